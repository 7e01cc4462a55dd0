import 'reflect-metadata';
import { Container } from 'inversify';
import { tasklane, registerTasks, TaskService, TaskEngine, type RestartResult, type TaskController, type TaskRun } from '../../src';
import { CountTask, NoopTask, Recorder } from '../fixtures/tasks';

/**
 * The public types are part of the contract: `npm test` type-checks this file first, so a
 * `@ts-expect-error` that stops erroring (a type got looser) fails the suite.
 */
describe('public types', () => {
  test('trigger() with a task class checks the input type at compile time', async () => {
    const container = new Container();
    await container.load(tasklane());
    registerTasks(container, [CountTask, NoopTask]);
    const service = container.get(TaskService);

    const ok: TaskRun<{ total: number }> = await service.trigger({ definition: CountTask, input: { count: 2 } });
    expect(ok.status).toBe('pending');
    // @ts-expect-error count must be a number
    await expect(service.trigger({ definition: CountTask, input: { count: 'two' } })).rejects.toThrow();
    // @ts-expect-error unknown option
    await expect(service.trigger({ definition: CountTask, input: { count: 1 }, priority: 1 })).rejects.toThrow();
    // @ts-expect-error wait() takes an id string
    await expect(service.wait(42)).rejects.toThrow();
    await container.get(TaskEngine).stop();
  });

  test("the id trigger() returns types wait() and result() by the definition's output; any string still works", async () => {
    const container = new Container();
    container.bind(Recorder).toSelf().inSingletonScope();
    await container.load(tasklane());
    registerTasks(container, [CountTask, NoopTask]);
    const service = container.get(TaskService);
    await container.get(TaskEngine).start();

    const run = await service.trigger({ definition: CountTask, input: { count: 2 } });
    const output = await service.result(run.id, { timeout: 10_000 });
    const total: number = output.total; // inferred from CountTask: no type argument
    expect(total).toBe(2);
    const ended = await service.wait(run.id);
    const again: number | undefined = ended.output?.total;
    expect(again).toBe(2);
    // @ts-expect-error the output of CountTask has no field "count"
    void output.count;

    // a plain string (an id read from a URL, a database): unknown, or what the caller names
    const id: string = run.id;
    const loose = await service.result(id);
    // @ts-expect-error unknown until the caller names the type
    void loose.total;
    const named = await service.result<{ total: number }>(id);
    expect(named.total).toBe(2);
    const byName = await service.trigger({ definition: 'test.count', input: { count: 1 } });
    const fromName: { total: number } = await service.result<{ total: number }>(byName.id, { timeout: 10_000 });
    expect(fromName.total).toBe(1);
    await container.get(TaskEngine).stop();
  });

  test('retries, retry/delete/locals/restart and controller.locals have the types of API.md section 5', async () => {
    const container = new Container();
    await container.load(tasklane());
    registerTasks(container, [CountTask, NoopTask]);
    const service = container.get(TaskService);

    const run = await service.trigger({
      definition: NoopTask,
      retry: { attempts: 3, backoff: { type: 'exponential', delay: 100, maxDelay: 1000, jitter: true } },
    });
    const retries: number = run.retries;
    const retryOf: string | undefined = run.retryOf;
    expect([retries, retryOf]).toEqual([0, undefined]);
    // @ts-expect-error the backoff type is 'fixed' or 'exponential'
    await expect(service.trigger({ definition: NoopTask, retry: { attempts: 3, backoff: { type: 'linear', delay: 1 } } })).rejects.toThrow();
    const deleted: Promise<boolean> = service.delete(run.id);
    await expect(deleted).rejects.toThrow(); // not finished
    const restarted: RestartResult = await service.restart(NoopTask, { message: 'again' });
    expect(restarted.definitionId).toBe('test.noop');
    const locals: Record<string, unknown> = await service.locals('test.noop');
    expect(Object.keys(locals)).toEqual([]);
    service.on('retrying', ({ run: r, error }) => void [r.retries, error.message]);

    // the controller's parts, as a task sees them (type checks only)
    const use = async (controller: TaskController<{ n: number }, string>) => {
      const count: number | undefined = await controller.locals.update<number>('count', (n) => (n ?? 0) + 1);
      const later: number | undefined = await controller.locals.update<number>('count', async (n) => (n ?? 0) + 1);
      await controller.locals.set('count', undefined);
      const read: string | undefined = await controller.locals.get<string>('name');
      // @ts-expect-error update's function returns the local's type
      await controller.locals.update<number>('count', () => 'one');
      void [count, later, read];
      return controller.response.error(new Error('x'), { retry: false });
    };
    void use;
    await container.get(TaskEngine).stop();
  });
});
