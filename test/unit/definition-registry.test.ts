import 'reflect-metadata';
import { Container } from 'inversify';
import { IsString } from 'class-validator';
import {
  registerTasks,
  tasklane,
  Task,
  TaskService,
  TaskDefinitionFaultError,
  TaskDefinitionError,
  InvalidArgumentError,
  type TaskDefinition,
  type TaskRunParams,
} from '../../src';

class NameInput {
  @IsString() name!: string;
}

function taskClass(options: Record<string, unknown>) {
  @Task(options as never)
  class T implements TaskDefinition<unknown, void> {
    run({ controller }: TaskRunParams<unknown, void>) {
      return controller.response.done();
    }
  }
  return T;
}

describe('definition registration', () => {
  let container: Container;
  beforeEach(async () => {
    container = new Container();
    await container.load(tasklane());
  });

  test.each([
    ['a bad id', { id: 'has space', title: 'x' }, 'TASK_NAME_INVALID'],
    ['a reserved id', { id: 'constructor', title: 'x' }, 'TASK_NAME_INVALID'],
    ['__proto__ as id', { id: '__proto__', title: 'x' }, 'TASK_NAME_INVALID'],
    ['an input that is not a class', { id: 'bad.input', title: 'x', input: { name: 'string' } }, 'DEFINITION_INVALID'],
    ['a malformed cron', { id: 'bad.cron', title: 'x', schedule: { cron: '* * * *' } }, 'CRON_INVALID'],
    ['a cron that never fires', { id: 'bad.feb31', title: 'x', schedule: { cron: '0 0 31 2 *' } }, 'CRON_INVALID'],
    [
      'a scheduled input that fails validation',
      { id: 'bad.schedinput', title: 'x', input: NameInput, schedule: { cron: '0 * * * *', input: { name: 1 } } },
      'INPUT_INVALID',
    ],
    ['a backfill that is not a duration', { id: 'bad.backfill', title: 'x', schedule: { cron: '0 * * * *', backfill: '2 minutes' } }, 'DEFINITION_INVALID'],
    ['a negative backfill', { id: 'bad.backfill2', title: 'x', schedule: { cron: '0 * * * *', backfill: -5 } }, 'DEFINITION_INVALID'],
    ['a backfill over 24 h', { id: 'bad.backfill3', title: 'x', schedule: { cron: '0 * * * *', backfill: '25h' } }, 'DEFINITION_INVALID'],
    ['a backfill object', { id: 'bad.backfill4', title: 'x', schedule: { cron: '0 * * * *', backfill: { m: 2 } } }, 'DEFINITION_INVALID'],
    ['no title', { id: 'bad.title' }, 'DEFINITION_INVALID'],
    ['maxIterations 0', { id: 'bad.iter', title: 'x', maxIterations: 0 }, 'DEFINITION_INVALID'],
    ['concurrency "2"', { id: 'bad.conc', title: 'x', concurrency: '2' }, 'DEFINITION_INVALID'],
    ['maxBacklog 0', { id: 'bad.backlog0', title: 'x', maxBacklog: 0 }, 'DEFINITION_INVALID'],
    ['maxBacklog 2.5', { id: 'bad.backlogfrac', title: 'x', maxBacklog: 2.5 }, 'DEFINITION_INVALID'],
    ['maxBacklog "100"', { id: 'bad.backlogstr', title: 'x', maxBacklog: '100' }, 'DEFINITION_INVALID'],
    ['maxBacklog Infinity', { id: 'bad.backloginf', title: 'x', maxBacklog: Number.POSITIVE_INFINITY }, 'DEFINITION_INVALID'],
  ])('%s: registered in the fault state, runs nothing, the host goes on', async (_what, options, code) => {
    const [def] = registerTasks(container, [taskClass(options)]);
    expect(def.fault?.code).toBe(code);
    const service = container.get(TaskService);
    const list = await service.listDefinitions({ includePrivate: true });
    expect(list.find((d) => d.id === String(options.id))?.state).toBe('fault');
    await expect(service.trigger({ definition: String(options.id) })).rejects.toBeInstanceOf(TaskDefinitionFaultError);
    // a good definition registered after it works
    const [good] = registerTasks(container, [taskClass({ id: `good.${Math.random().toString(36).slice(2)}`, title: 'ok' })]);
    expect(good.fault).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('maxBacklog: the engine-wide default applies to definitions without their own; their own wins', async () => {
    const withDefault = new Container();
    await withDefault.load(tasklane({ maxBacklog: 1000 }));
    const [plain, own] = registerTasks(withDefault, [
      taskClass({ id: 'backlog.plain', title: 'x' }),
      taskClass({ id: 'backlog.own', title: 'x', maxBacklog: 5 }),
    ]);
    expect(plain.maxBacklog).toBe(1000);
    expect(own.maxBacklog).toBe(5);
    const list = await withDefault.get(TaskService).listDefinitions();
    expect(list.map((d) => [d.id, d.maxBacklog])).toEqual([
      ['backlog.plain', 1000],
      ['backlog.own', 5],
    ]);
    // without a default, a definition without its own is unlimited
    const [unlimited] = registerTasks(container, [taskClass({ id: 'backlog.none', title: 'x' })]);
    expect(unlimited.maxBacklog).toBeUndefined();
  });

  test.each([0, -3, 1.5, '10', Number.NaN])('tasklane({ maxBacklog: %p }) is refused with InvalidArgumentError', (bad) => {
    expect(() => tasklane({ maxBacklog: bad as number })).toThrow(InvalidArgumentError);
    expect(() => tasklane({ maxBacklog: bad as number })).toThrow(/maxBacklog must be a positive integer/);
  });

  test('a class that is not a task is refused outright', () => {
    class NotATask {}
    expect(() => registerTasks(container, [NotATask as never])).toThrow(TaskDefinitionError);
  });
});
