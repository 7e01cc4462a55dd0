import 'reflect-metadata';
import { IsInt, IsString, Min } from 'class-validator';
import { inject } from 'inversify';
import {
  InvalidArgumentError,
  runWithContext,
  Task,
  TaskAbortedError,
  TaskDefinition,
  TaskFailedError,
  TaskNotFoundError,
  TaskTimeoutError,
  TaskTriggerRefusedError,
  TaskValidationError,
  TasklaneError,
  UnknownTaskDefinitionError,
  DuplicateTaskDefinitionError,
  TaskDefinitionFaultError,
  QueueFullError,
  registerTasks,
  TOKENS,
  type RunStorage,
  type TaskRun,
  type TaskRunParams,
} from '../../src';
import { captureLogger } from '../helpers/capture-logger';
import { assertNoLiveEngines, startHarness, type Harness } from '../helpers/engine-harness';
import { ALL_TEST_TASKS, CountInput, CountTask, ForeverTask, NoopTask, SerialTask, SleepTask } from '../fixtures/tasks';
import { describeRetriesLocalsRestart, RETRY_LOCALS_TASKS } from './engine-retries-locals';
import { describeHardening, HARDENING_TASKS } from './engine-hardening';
import { until } from '../helpers/wait';

/** `storage`, and `another()`: a second handle on the same data, as a second node would open it */
export type StorageFactory = () => Promise<{ storage: RunStorage; another: () => RunStorage; cleanup: () => Promise<void> }>;

const seen: { input?: unknown; frozen?: boolean; context?: unknown; isInstance?: boolean } = {};

class GreetInput {
  @IsString() name!: string;
}

@Task({ id: 'conf.inspect', title: 'Inspects its input and context', input: GreetInput })
class InspectTask implements TaskDefinition<GreetInput, string> {
  run({ input, controller, context }: TaskRunParams<GreetInput, string>) {
    seen.input = input;
    seen.isInstance = input instanceof GreetInput;
    seen.frozen = Object.isFrozen(input);
    seen.context = context;
    return controller.response.done(`hello ${input.name}`);
  }
}

/** reports progress three times at once, then sleeps until aborted (or 10 s) */
@Task({ id: 'conf.progress', title: 'Reports progress, then waits' })
class ProgressTask implements TaskDefinition<undefined, string> {
  async run({ controller }: TaskRunParams<undefined, string>) {
    for (let i = 1; i <= 3; i++) controller.progress({ info: `step ${i}`, current: i, total: 3 });
    await controller.sleep(10_000);
    return controller.response.aborted();
  }
}

@Task({ id: 'conf.refuse', title: 'Refuses some triggers', input: GreetInput })
class RefuseTask implements TaskDefinition<GreetInput, string> {
  onBeforeTrigger({ input }: { input: GreetInput }) {
    if (input.name === 'mallory') throw new Error('mallory is not welcome');
  }
  run({ controller }: TaskRunParams<GreetInput, string>) {
    return controller.response.done('welcome');
  }
}

@Task({ id: 'conf.parent', title: 'Starts children', input: CountInput })
class ParentTask implements TaskDefinition<CountInput, string[]> {
  async run({ input, controller }: TaskRunParams<CountInput, string[]>) {
    const ids: string[] = [];
    for (let i = 0; i < input.count; i++) ids.push((await controller.trigger({ definition: 'test.noop' })).id);
    return controller.response.done(ids);
  }
}

@Task({ id: 'conf.slowdone', title: 'Finishes its work even when aborted' })
class SlowDoneTask implements TaskDefinition<undefined, string> {
  async run({ controller }: TaskRunParams<undefined, string>) {
    await controller.sleep(100);
    return controller.response.done('finished anyway');
  }
}

@Task({ id: 'conf.continue-after-abort', title: 'Answers continue when aborted' })
class ContinueAfterAbortTask implements TaskDefinition<undefined, never> {
  static calls = 0;
  async run({ controller }: TaskRunParams<undefined, never>) {
    ContinueAfterAbortTask.calls++;
    await controller.sleep(5_000);
    return controller.response.continue();
  }
}

@Task({ id: 'conf.hang', title: 'Ignores its timeout', iterationTimeout: 100 })
class HangTask implements TaskDefinition<undefined, never> {
  static signalReason: unknown;
  async run({ controller }: TaskRunParams<undefined, never>) {
    controller.signal.addEventListener('abort', () => (HangTask.signalReason = controller.signal.reason));
    await new Promise(() => undefined);
    return controller.response.continue();
  }
}

@Task({ id: 'conf.private', title: 'Hidden', isPrivate: true })
class PrivateTask implements TaskDefinition<undefined, void> {
  run({ controller }: TaskRunParams<undefined, void>) {
    return controller.response.done();
  }
}

@Task({ id: 'conf.badpatch', title: 'Continues with an invalid patch', input: CountInput })
class BadPatchTask implements TaskDefinition<CountInput, void> {
  run({ controller }: TaskRunParams<CountInput, void>) {
    return controller.response.continue({ count: 'many' as unknown as number });
  }
}

class NapInput {
  @IsInt() @Min(0) ms!: number;
}

@Task({ id: 'conf.fenced', title: 'Answers after a while with its node id', input: NapInput })
class FencedTask implements TaskDefinition<NapInput, string> {
  async run({ input, controller }: TaskRunParams<NapInput, string>) {
    await new Promise((r) => setTimeout(r, input.ms));
    return controller.response.done(this.node);
  }
  constructor(@inject(TOKENS.Options) private readonly options: { nodeId: string }) {}
  private get node(): string {
    return this.options.nodeId;
  }
}

class Greeter {
  greet(name: string) {
    return `hi ${name}`;
  }
}

class PlainImpl {
  constructor(private readonly greeter: Greeter) {}
  run({ input, controller }: TaskRunParams<GreetInput, string>) {
    return controller.response.done(this.greeter.greet(input.name));
  }
}
const PlainTask = TaskDefinition.createImplementation({
  implementation: PlainImpl,
  dependencies: [Greeter],
  meta: { id: 'conf.plain', title: 'Written without decorators', input: GreetInput },
});

@Task({ id: 'conf.big-output', title: 'Answers too much', maxOutputBytes: 1024 })
class BigOutputTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('x'.repeat(2048));
  }
}

@Task({ id: 'conf.chatty', title: 'Logs a lot', maxLogsPerRun: 5 })
class ChattyTask implements TaskDefinition<undefined, void> {
  run({ controller }: TaskRunParams<undefined, void>) {
    for (let i = 0; i < 20; i++) controller.log.info(`line ${i}`);
    return controller.response.done();
  }
}

@Task({ id: 'conf.bad-hook', title: 'Its onDone throws' })
class BadHookTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('fine');
  }
  onDone(): void {
    throw new Error('hook bug');
  }
}

@Task({ id: 'conf.backlog', title: 'At most 3 pending runs', maxBacklog: 3 })
class BacklogTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('drained');
  }
}

@Task({ id: 'conf.backlog-wide', title: 'At most 50 pending runs', maxBacklog: 50 })
class WideBacklogTask implements TaskDefinition<undefined, void> {
  run({ controller }: TaskRunParams<undefined, void>) {
    return controller.response.done();
  }
}

@Task({ id: 'conf.backlog-hook', title: 'At most 1 pending run, refuses some', input: GreetInput, maxBacklog: 1 })
class BacklogHookTask implements TaskDefinition<GreetInput, string> {
  onBeforeTrigger({ input }: { input: GreetInput }) {
    if (input.name === 'mallory') throw new Error('mallory is not welcome');
  }
  run({ controller }: TaskRunParams<GreetInput, string>) {
    return controller.response.done('welcome');
  }
}

const TASKS = [
  BacklogTask,
  WideBacklogTask,
  BacklogHookTask,
  BigOutputTask,
  ChattyTask,
  BadHookTask,
  ...ALL_TEST_TASKS,
  InspectTask,
  RefuseTask,
  ParentTask,
  SlowDoneTask,
  ContinueAfterAbortTask,
  HangTask,
  PrivateTask,
  BadPatchTask,
  ProgressTask,
  ...RETRY_LOCALS_TASKS,
  ...HARDENING_TASKS,
];

async function countRuns(h: Harness): Promise<number> {
  let n = 0;
  let cursor: string | undefined;
  do {
    const page = await h.service.listRuns({ limit: 1000, cursor });
    n += page.items.length;
    cursor = page.cursor;
  } while (cursor);
  return n;
}

/** The engine's behaviour (API.md sections 1-4), run unchanged against every storage adapter. */
export function describeEngineConformance(name: string, factory: StorageFactory): void {
  describe(`engine conformance: ${name}`, () => {
    let h: Harness;
    let cleanup: () => Promise<void>;
    let another: () => RunStorage;

    beforeEach(async () => {
      const made = await factory();
      cleanup = made.cleanup;
      another = made.another;
      h = await startHarness({ storage: made.storage, tasks: TASKS, timeoutGraceMs: 150 });
      h.container.bind(Greeter).toSelf();
      registerTasks(h.container, [PlainTask]);
    });

    afterEach(async () => {
      await h.stop();
      await assertNoLiveEngines();
      await cleanup();
    });

    describeRetriesLocalsRestart(() => ({ h }));

    test('trigger gives a pending run; it succeeds with its output; result() returns it', async () => {
      const run = await h.service.trigger({ definition: NoopTask });
      expect(run.status).toBe('pending');
      expect(run.definitionId).toBe('test.noop');
      expect(run.name).toBe('test.noop');
      expect(typeof run.createdOn).toBe('string');
      expect(await h.service.result(run.id, { timeout: 5000 })).toBe('ok');
      const done = await h.service.get(run.id);
      expect(done).toMatchObject({ status: 'success', output: 'ok', iterations: 1, attempt: 1 });
      expect(new Date(done!.finishedOn!).toISOString()).toBe(done!.finishedOn);
    });

    test('the input run() receives is a deep-frozen instance of the input class; context travels', async () => {
      const run = await runWithContext({ tenant: 't1' }, () => h.service.trigger({ definition: 'conf.inspect', input: { name: 'ada' } }));
      expect(run.context).toEqual({ tenant: 't1' });
      expect(await h.service.result(run.id, { timeout: 5000 })).toBe('hello ada');
      expect(seen.isInstance).toBe(true);
      expect(seen.frozen).toBe(true);
      expect(seen.context).toEqual({ tenant: 't1' });
    });

    test('invalid input is refused with one entry per property and nothing is stored', async () => {
      const before = await countRuns(h);
      const err = await h.service.trigger({ definition: CountTask, input: { count: 0, extra: 1 } as unknown as CountInput }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskValidationError);
      expect(err).toBeInstanceOf(TasklaneError);
      const paths = (err as TaskValidationError).errors.map((e) => e.path).sort();
      expect(paths).toEqual(['count', 'extra']);
      expect((err as TaskValidationError).code).toBe('INPUT_INVALID');
      await expect(h.service.trigger({ definition: 'test.noop', input: { a: 1 } })).rejects.toBeInstanceOf(TaskValidationError);
      await expect(h.service.trigger({ definition: 'conf.inspect', input: JSON.parse('{"name":"x","__proto__":{"polluted":1}}') })).rejects.toBeInstanceOf(
        TaskValidationError,
      );
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(await countRuns(h)).toBe(before);
    });

    test('unknown definitions and bad options are typed errors', async () => {
      await expect(h.service.trigger({ definition: 'nope' })).rejects.toBeInstanceOf(UnknownTaskDefinitionError);
      await expect(h.service.trigger({ definition: '__proto__' })).rejects.toBeInstanceOf(UnknownTaskDefinitionError);
      await expect(h.service.trigger({ definition: 'test.noop', delay: -5 })).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(h.service.trigger({ definition: 'test.noop', bogus: 1 } as never)).rejects.toBeInstanceOf(InvalidArgumentError);
      await expect(h.service.trigger({ definition: 'test.noop', parent: 'missing00' })).rejects.toBeInstanceOf(TaskNotFoundError);
    });

    test('onBeforeTrigger refusal: TaskTriggerRefusedError with the cause, nothing stored', async () => {
      const before = await countRuns(h);
      const err = (await h.service.trigger({ definition: 'conf.refuse', input: { name: 'mallory' } }).catch((e: unknown) => e)) as TaskTriggerRefusedError;
      expect(err).toBeInstanceOf(TaskTriggerRefusedError);
      expect(err.message).toContain('mallory is not welcome');
      expect((err.cause as Error).message).toBe('mallory is not welcome');
      expect(err.code).toBe('TRIGGER_REFUSED');
      expect(await countRuns(h)).toBe(before);
      const ok = await h.service.trigger({ definition: 'conf.refuse', input: { name: 'bob' } });
      expect(await h.service.result(ok.id, { timeout: 5000 })).toBe('welcome');
    });

    test('iterations: continue() merges and stores the patch, progress, logs and store persist', async () => {
      const run = await h.service.trigger({ definition: CountTask, input: { count: 3 } });
      const done = await h.service.wait(run.id, { timeout: 5000 });
      expect(done).toMatchObject({ status: 'success', output: { total: 3 }, iterations: 3, input: { count: 3, next: 2 } });
      expect(done.progress).toEqual({ info: 'step 3', current: 3, total: 3 });
      const logs = await h.service.listLogs({ runId: run.id });
      expect(logs.items.map((l) => l.message)).toEqual(['step 1', 'step 2', 'step 3']);
      expect(logs.items[0]).toMatchObject({ runId: run.id, type: 'info', data: { next: 1 } });
      expect(h.recorder.hooks).toEqual(['onDone']);
    });

    test('maxIterations: the last allowed continue() fails the run with MAX_ITERATIONS and calls onMaxIterations only', async () => {
      const run = await h.service.trigger({ definition: ForeverTask });
      const done = await h.service.wait(run.id, { timeout: 5000 });
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('MAX_ITERATIONS');
      expect(done.iterations).toBe(3);
      expect(h.recorder.hooks).toEqual(['onMaxIterations']);
      await expect(h.service.result(run.id)).rejects.toBeInstanceOf(TaskFailedError);
    });

    test('errors thrown or answered are stored as { message, code, data?, stack? }; onError called before wait() resolves', async () => {
      const a = await h.service.trigger({ definition: 'test.fail', input: { message: 'boom' } });
      const b = await h.service.trigger({ definition: 'test.fail', input: { message: 'nope', mode: 'answer' } });
      const ra = await h.service.wait(a.id, { timeout: 5000 });
      expect(ra.status).toBe('failed');
      expect(ra.error).toMatchObject({ message: 'boom', code: 'E_THROWN' });
      expect(typeof ra.error?.stack).toBe('string');
      expect(h.recorder.hooks).toContain('onError:boom');
      const rb = await h.service.wait(b.id, { timeout: 5000 });
      expect(rb.error).toEqual({ message: 'nope', code: 'E_ANSWERED', data: { a: 1 } });
      const stats = await h.service.stats();
      expect(stats.find((s) => s.definitionId === 'test.fail')).toMatchObject({ errNum: 2, evalNum: 2 });
    });

    test('an invalid continue() patch fails the run with INPUT_INVALID', async () => {
      const run = await h.service.trigger({ definition: 'conf.badpatch', input: { count: 1 } });
      const done = await h.service.wait(run.id, { timeout: 5000 });
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('INPUT_INVALID');
    });

    test('abort of a pending (delayed) run ends it at once and calls onAbort; it never runs', async () => {
      const run = await h.service.trigger({ definition: SleepTask, input: { ms: 1 }, delay: 60_000 });
      const aborted = await h.service.abort({ id: run.id, message: 'not needed' });
      expect(aborted.status).toBe('aborted');
      expect(aborted.error?.message).toBe('not needed');
      expect(h.recorder.hooks).toEqual(['onAbort']);
      await expect(h.service.result(run.id)).rejects.toBeInstanceOf(TaskAbortedError);
      const again = await h.service.abort({ id: run.id });
      expect(again.status).toBe('aborted');
      const logs = await h.service.listLogs({ runId: run.id });
      expect(logs.items.some((l) => l.message.includes('not needed'))).toBe(true);
    });

    test('abort of a running run: isAborted(), the signal and sleep() see it; it ends aborted', async () => {
      const run = await h.service.trigger({ definition: SleepTask, input: { ms: 10_000 } });
      await until(async () => (await h.service.get(run.id))?.status === 'running');
      const started = Date.now();
      const r = await h.service.abort({ id: run.id, message: 'stop now' });
      expect(r.status).toBe('running');
      const done = await h.service.wait(run.id, { timeout: 5000 });
      expect(done.status).toBe('aborted');
      expect(done.error).toEqual({ message: 'stop now', code: 'ABORTED' });
      expect(Date.now() - started).toBeLessThan(2000);
      expect(h.recorder.hooks).toEqual(['onAbort']);
    });

    test('abort answered by done() still succeeds; by continue() ends aborted and never runs again', async () => {
      const a = await h.service.trigger({ definition: 'conf.slowdone' });
      await until(async () => (await h.service.get(a.id))?.status === 'running');
      await h.service.abort({ id: a.id });
      expect((await h.service.wait(a.id, { timeout: 5000 })).status).toBe('success');

      ContinueAfterAbortTask.calls = 0;
      const b = await h.service.trigger({ definition: 'conf.continue-after-abort' });
      await until(async () => (await h.service.get(b.id))?.status === 'running');
      await h.service.abort({ id: b.id });
      expect((await h.service.wait(b.id, { timeout: 5000 })).status).toBe('aborted');
      await new Promise((r) => setTimeout(r, 100));
      expect(ContinueAfterAbortTask.calls).toBe(1);
    });

    test('a run parked by continue({ delay }) is aborted at once', async () => {
      @Task({ id: 'conf.park', title: 'Parks' })
      class ParkTask implements TaskDefinition<undefined, void> {
        run({ controller }: TaskRunParams<undefined, void>) {
          return controller.response.continue(undefined, { delay: 60_000 });
        }
      }
      registerTasks(h.container, [ParkTask]);
      const run = await h.service.trigger({ definition: 'conf.park' });
      // parked: its first iteration answered, the next is due in a minute
      await until(async () => {
        const r = await h.service.get(run.id);
        return r?.status === 'running' && r.runAt !== undefined && Date.parse(r.runAt) > Date.now() + 30_000;
      }, 10_000);
      const aborted = await h.service.abort({ id: run.id });
      expect(aborted.status).toBe('aborted');
    });

    test('iteration timeout: the signal fires with a TimeoutError, then the run fails ITERATION_TIMEOUT', async () => {
      const run = await h.service.trigger({ definition: 'conf.hang' });
      const done = await h.service.wait(run.id, { timeout: 5000 });
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('ITERATION_TIMEOUT');
      expect((HangTask.signalReason as Error).name).toBe('TimeoutError');
    });

    test('idempotency key: the unfinished run is returned; a finished one frees the key', async () => {
      const runs = await Promise.all(Array.from({ length: 20 }, () => h.service.trigger({ definition: SleepTask, input: { ms: 50 }, key: 'k1' })));
      expect(new Set(runs.map((r) => r.id)).size).toBe(1);
      await h.service.wait(runs[0].id, { timeout: 5000 });
      const next = await h.service.trigger({ definition: SleepTask, input: { ms: 1 }, key: 'k1' });
      expect(next.id).not.toBe(runs[0].id);
      await h.service.wait(next.id, { timeout: 5000 });
    });

    test('delay: the run does not start before its time', async () => {
      const t0 = Date.now();
      const run = await h.service.trigger({ definition: NoopTask, delay: 300 });
      expect(run.runAt).toBeDefined();
      const done = await h.service.wait(run.id, { timeout: 5000 });
      expect(Date.parse(done.startedOn!) - t0).toBeGreaterThanOrEqual(295);
    });

    test('delayed runs survive a restart of the engine and never start before their time', async () => {
      const runs = await Promise.all([300, 600, 900].map((delay) => h.service.trigger({ definition: NoopTask, delay })));
      await h.engine.stop();
      await new Promise((r) => setTimeout(r, 100));
      await h.engine.start();
      for (const [i, run] of runs.entries()) {
        const done = await h.service.wait(run.id, { timeout: 5000 });
        expect(done.status).toBe('success');
        expect(Date.parse(done.startedOn!)).toBeGreaterThanOrEqual(Date.parse(run.createdOn) + [300, 600, 900][i]);
      }
    });

    test('after: a run waits for another to end', async () => {
      const first = await h.service.trigger({ definition: SleepTask, input: { ms: 200 } });
      const second = await h.service.trigger({ definition: NoopTask, after: first.id });
      const d2 = await h.service.wait(second.id, { timeout: 5000 });
      const d1 = await h.service.get(first.id);
      expect(Date.parse(d2.startedOn!)).toBeGreaterThanOrEqual(Date.parse(d1!.finishedOn!));
    });

    test('parent/child: controller.trigger() sets parentId; listRuns filters by it', async () => {
      const parent = await h.service.trigger({ definition: 'conf.parent', input: { count: 3 } });
      const ids = await h.service.result<string[]>(parent.id, { timeout: 5000 });
      expect(ids).toHaveLength(3);
      const children = await h.service.listRuns({ parentId: parent.id });
      expect(children.items.map((r) => r.id).sort()).toEqual([...ids].sort());
      for (const id of ids) await h.service.wait(id, { timeout: 5000 });
    });

    test('aborting a parent aborts its unfinished children', async () => {
      const parent = await h.service.trigger({ definition: SleepTask, input: { ms: 10_000 } });
      const child = await h.service.trigger({ definition: SleepTask, input: { ms: 10_000 }, parent: parent.id, delay: 60_000 });
      await h.service.abort({ id: parent.id });
      expect((await h.service.wait(child.id, { timeout: 5000 })).status).toBe('aborted');
      expect((await h.service.wait(parent.id, { timeout: 5000 })).status).toBe('aborted');
    });

    test('shapes: get() of an unknown id is null; wait()/result() throw TaskNotFoundError; wait() times out', async () => {
      expect(await h.service.get('00000000000000000000000000')).toBeNull();
      await expect(h.service.wait('00000000000000000000000000')).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(h.service.result('../etc/passwd')).rejects.toBeInstanceOf(TaskNotFoundError);
      const run = await h.service.trigger({ definition: SleepTask, input: { ms: 2000 } });
      await expect(h.service.wait(run.id, { timeout: 50 })).rejects.toBeInstanceOf(TaskTimeoutError);
      await h.service.abort({ id: run.id });
    });

    test('listRuns is newest first with cursor paging; limit defaults to 50', async () => {
      const made: TaskRun[] = [];
      for (let i = 0; i < 60; i++) made.push(await h.service.trigger({ definition: NoopTask, name: `n${i}`, delay: 60_000 }));
      const first = await h.service.listRuns({ definition: 'test.noop' });
      expect(first.items).toHaveLength(50);
      expect(first.items[0].name).toBe('n59');
      const second = await h.service.listRuns({ definition: 'test.noop', cursor: first.cursor });
      expect(second.items.map((r) => r.name)).toEqual(Array.from({ length: 10 }, (_, i) => `n${9 - i}`));
      expect(second.cursor).toBeUndefined();
      const pending = await h.service.listRuns({ status: 'pending', limit: 5 });
      expect(pending.items.every((r) => r.status === 'pending')).toBe(true);
      await expect(h.service.listRuns({ status: 'bogus' as never })).rejects.toBeInstanceOf(InvalidArgumentError);
    });

    test('listRuns({ tenant }) lists the runs whose context.tenant is it, from trigger() and runWithContext()', async () => {
      const a1 = await h.service.trigger({ definition: NoopTask, context: { tenant: 'ta', user: 'x' }, delay: 60_000 });
      await h.service.trigger({ definition: NoopTask, context: { tenant: 'tb' }, delay: 60_000 });
      const a2 = await runWithContext({ tenant: 'ta' }, () => h.service.trigger({ definition: NoopTask, delay: 60_000 }));
      await h.service.trigger({ definition: NoopTask, delay: 60_000 });
      expect((await h.service.listRuns({ tenant: 'ta' })).items.map((r) => r.id)).toEqual([a2.id, a1.id]);
      expect((await h.service.listRuns({ tenant: 'ta', limit: 1 })).cursor).toBe(a2.id);
      expect((await h.service.listRuns({ tenant: 'ta', definition: 'test.noop', status: 'pending' })).items).toHaveLength(2);
      expect((await h.service.listRuns({ tenant: 'nobody' })).items).toEqual([]);
    });

    test('maxBacklog: a trigger past it rejects with QueueFullError and stores nothing; its key still returns the run; room again once runs start', async () => {
      await h.service.disable('conf.backlog'); // its runs stay pending
      const keyed = await h.service.trigger({ definition: BacklogTask, key: 'k1' });
      const parent = await h.service.trigger({ definition: BacklogTask });
      await h.service.trigger({ definition: BacklogTask });
      const err = (await h.service.trigger({ definition: BacklogTask }).catch((e: unknown) => e)) as QueueFullError;
      expect(err).toBeInstanceOf(QueueFullError);
      expect(err).toBeInstanceOf(TasklaneError);
      expect(err).toMatchObject({ code: 'QUEUE_FULL', definitionId: 'conf.backlog', limit: 3 });
      expect(err.message).toContain('maxBacklog of 3');
      // the unfinished run holding the key is returned: it adds nothing to the backlog
      expect((await h.service.trigger({ definition: BacklogTask, key: 'k1' })).id).toBe(keyed.id);
      // a child counts like any other run; so do concurrent triggers and a new key
      await expect(h.service.trigger({ definition: BacklogTask, parent: parent.id })).rejects.toBeInstanceOf(QueueFullError);
      const flood = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => h.service.trigger({ definition: BacklogTask, key: `new${i}` })));
      expect(flood.every((r) => r.status === 'rejected' && r.reason instanceof QueueFullError)).toBe(true);
      const stored = await h.service.listRuns({ definition: 'conf.backlog', limit: 100 });
      expect(stored.items).toHaveLength(3);
      expect((await h.service.stats()).find((s) => s.definitionId === 'conf.backlog')).toMatchObject({ queueSize: 3 });

      await h.service.enable('conf.backlog');
      for (const run of stored.items) await h.service.wait(run.id, { timeout: 5000 });
      const again = await Promise.all([1, 2, 3].map(() => h.service.trigger({ definition: BacklogTask })));
      for (const run of again) expect(await h.service.result(run.id, { timeout: 5000 })).toBe('drained');
    });

    test('maxBacklog: the triggers of one tick are counted one by one, not passed on one count; an abort makes room', async () => {
      await h.service.disable('conf.backlog-wide');
      const results = await Promise.allSettled(Array.from({ length: 200 }, () => h.service.trigger({ definition: WideBacklogTask })));
      const admitted = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(admitted).toHaveLength(50);
      expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason instanceof QueueFullError)).toBe(true);
      expect((await h.service.listRuns({ definition: 'conf.backlog-wide', limit: 1000 })).items).toHaveLength(50);
      // a second wave, decided on the count kept since: all refused, no more stored
      const second = await Promise.allSettled(Array.from({ length: 50 }, () => h.service.trigger({ definition: WideBacklogTask })));
      expect(second.every((r) => r.status === 'rejected')).toBe(true);
      await h.service.abort({ id: admitted[0].id });
      const next = await h.service.trigger({ definition: WideBacklogTask });
      await expect(h.service.trigger({ definition: WideBacklogTask })).rejects.toBeInstanceOf(QueueFullError);
      expect((await h.service.listRuns({ definition: 'conf.backlog-wide', status: 'pending', limit: 1000 })).items).toHaveLength(50);
      await h.service.enable('conf.backlog-wide');
      await h.service.wait(next.id, { timeout: 5000 });
    });

    test('maxBacklog: a trigger refused by onBeforeTrigger gives its place back', async () => {
      await h.service.disable('conf.backlog-hook');
      await expect(h.service.trigger({ definition: 'conf.backlog-hook', input: { name: 'mallory' } })).rejects.toBeInstanceOf(TaskTriggerRefusedError);
      const ok = await h.service.trigger({ definition: 'conf.backlog-hook', input: { name: 'bob' } });
      await expect(h.service.trigger({ definition: 'conf.backlog-hook', input: { name: 'eve' } })).rejects.toBeInstanceOf(QueueFullError);
      await h.service.enable('conf.backlog-hook');
      await h.service.wait(ok.id, { timeout: 5000 });
    });

    test('maxBacklog: a bad value puts the definition in the fault state; listDefinitions reports a good one', async () => {
      for (const [i, bad] of [0, -1, 2.5, '10', Number.POSITIVE_INFINITY, null].entries()) {
        @Task({ id: `conf.bad-backlog-${i}`, title: 'Broken maxBacklog', maxBacklog: bad as number })
        class BadBacklog implements TaskDefinition<undefined, void> {
          run({ controller }: TaskRunParams<undefined, void>) {
            return controller.response.done();
          }
        }
        const [def] = registerTasks(h.container, [BadBacklog]);
        expect(def.fault?.code).toBe('DEFINITION_INVALID');
        expect(def.fault?.message).toContain('maxBacklog must be a positive integer');
        await expect(h.service.trigger({ definition: BadBacklog })).rejects.toBeInstanceOf(TaskDefinitionFaultError);
      }
      const defs = await h.service.listDefinitions();
      expect(defs.find((d) => d.id === 'conf.backlog')).toMatchObject({ maxBacklog: 3, state: 'enabled' });
      expect(defs.find((d) => d.id === 'conf.bad-backlog-0')).toMatchObject({ state: 'fault' });
      expect(defs.find((d) => d.id === 'test.noop')?.maxBacklog).toBeUndefined();
    });

    test('listDefinitions hides private definitions unless asked; fault and duplicates', async () => {
      const defs = await h.service.listDefinitions();
      expect(defs.find((d) => d.id === 'conf.private')).toBeUndefined();
      expect(defs.find((d) => d.id === 'test.count')).toMatchObject({ title: 'Counts with continue()', maxIterations: 10, state: 'enabled' });
      const all = await h.service.listDefinitions({ includePrivate: true });
      expect(all.find((d) => d.id === 'conf.private')).toBeDefined();
      expect(() => registerTasks(h.container, [PrivateTask])).toThrow(DuplicateTaskDefinitionError);

      @Task({ id: 'conf.badcron', title: 'Broken schedule', schedule: { cron: '61 * * * *' } })
      class BadCron implements TaskDefinition<undefined, void> {
        run({ controller }: TaskRunParams<undefined, void>) {
          return controller.response.done();
        }
      }
      const [def] = registerTasks(h.container, [BadCron]);
      expect(def.fault?.code).toBe('CRON_INVALID');
      await expect(h.service.trigger({ definition: 'conf.badcron' })).rejects.toBeInstanceOf(TaskDefinitionFaultError);
      const stats = await h.service.stats();
      expect(stats.find((s) => s.definitionId === 'conf.badcron')?.status).toBe('fault');
    });

    test('createImplementation: a task without decorators gets its dependencies injected', async () => {
      const run = await h.service.trigger({ definition: 'conf.plain', input: { name: 'bo' } });
      expect(await h.service.result(run.id, { timeout: 5000 })).toBe('hi bo');
    });

    test('runInline runs a function on the pool and appears under the definition id inline', async () => {
      const result = await h.service.runInline(async (input) => ({ doubled: (input as { n: number }).n * 2 }), { n: 21 });
      expect(result).toEqual({ doubled: 42 });
      const runs = await h.service.listRuns({ definition: 'inline' });
      expect(runs.items[0]).toMatchObject({ status: 'success', output: { doubled: 42 } });
      await expect(
        h.service.runInline(() => {
          throw new Error('inline boom');
        }),
      ).rejects.toBeInstanceOf(TaskFailedError);
    });

    test('stats: counts iterations, errors, queue size and peak, disabled state', async () => {
      await h.service.disable('test.noop');
      const runs = await Promise.all([1, 2, 3].map(() => h.service.trigger({ definition: NoopTask })));
      await new Promise((r) => setTimeout(r, 100));
      expect((await h.service.get(runs[0].id))?.status).toBe('pending');
      let row = (await h.service.stats()).find((s) => s.definitionId === 'test.noop')!;
      expect(row).toMatchObject({ status: 'disabled', queueSize: 3, queuePeak: 3 });
      await h.service.enable('test.noop');
      for (const r of runs) await h.service.wait(r.id, { timeout: 5000 });
      row = (await h.service.stats()).find((s) => s.definitionId === 'test.noop')!;
      expect(row).toMatchObject({ status: 'idle', queueSize: 0, queuePeak: 3, evalNum: 3, errNum: 0 });
      expect(row.evalAvgTime).toBeGreaterThanOrEqual(0);
    });

    test('concurrency 1 runs one at a time, in trigger order', async () => {
      SerialTask.running = 0;
      SerialTask.maxSeen = 0;
      const runs = [];
      for (let i = 0; i < 8; i++) runs.push(await h.service.trigger({ definition: SerialTask, name: `s${i}` }));
      for (const r of runs) await h.service.wait(r.id, { timeout: 5000 });
      expect(SerialTask.maxSeen).toBe(1);
      expect(h.recorder.calls.filter((c) => c.startsWith('serial:'))).toEqual(runs.map((r) => `serial:${r.name}`));
    });

    test('the progress of a running run reaches storage while it runs: its last value, within a second', async () => {
      const run = await h.service.trigger({ definition: ProgressTask });
      await until(async () => (await h.service.get(run.id))?.progress?.current === 3, 2000);
      const stored = await h.service.get(run.id);
      expect(stored).toMatchObject({ status: 'running', progress: { info: 'step 3', current: 3, total: 3 } });
      // and another process reading the same data sees it too
      const other = another();
      await other.init();
      try {
        expect((await other.getRun(run.id))?.progress).toEqual({ info: 'step 3', current: 3, total: 3 });
      } finally {
        await other.close();
      }
      await h.service.abort({ id: run.id });
      expect((await h.service.wait(run.id, { timeout: 5000 })).status).toBe('aborted');
    });

    test('events are emitted after hooks; a throwing listener does not break the engine', async () => {
      const events: string[] = [];
      h.service.on('done', () => {
        throw new Error('listener bug');
      });
      h.service.on('done', ({ run }) => {
        events.push(`done:${run.id}:${h.recorder.hooks.join(',')}`);
      });
      h.service.on('submitted', ({ run }) => void events.push(`submitted:${run.id}`));
      h.service.on('progress', ({ progress }) => void events.push(`progress:${progress.current}`));
      const run = await h.service.trigger({ definition: CountTask, input: { count: 1 } });
      await h.service.wait(run.id, { timeout: 5000 });
      await until(() => events.some((e) => e.startsWith('done:')));
      expect(events).toEqual([`submitted:${run.id}`, 'progress:1', `done:${run.id}:onDone`]);
      expect(() => h.service.on('bogus' as never, () => undefined)).toThrow();
    });

    test('wait() answers after the hook, even a hook slower than the waiter sweep that reads ends from storage', async () => {
      const finished: string[] = [];
      @Task({ id: 'conf.slow-hooks', title: 'Hooks slower than the sweep' })
      class SlowHooks implements TaskDefinition<undefined, string> {
        run({ controller }: TaskRunParams<undefined, string>) {
          return controller.response.done('ok');
        }
        async onDone({ run }: { run: TaskRun }) {
          await new Promise((r) => setTimeout(r, 1500)); // the sweep reads every pollMs (200 ms here)
          finished.push(`onDone:${run.id}`);
        }
        async onAbort({ run }: { run: TaskRun }) {
          await new Promise((r) => setTimeout(r, 1500));
          finished.push(`onAbort:${run.id}`);
        }
      }
      registerTasks(h.container, [SlowHooks]);
      const run = await h.service.trigger({ definition: SlowHooks });
      expect(await h.service.wait(run.id, { timeout: 10_000 })).toMatchObject({ status: 'success' });
      expect(finished).toEqual([`onDone:${run.id}`]);

      await h.service.disable('conf.slow-hooks'); // stays pending: abort() ends it, then its hook runs
      const pending = await h.service.trigger({ definition: SlowHooks });
      const waited = h.service.wait(pending.id, { timeout: 10_000 });
      await h.service.abort({ id: pending.id });
      expect(await waited).toMatchObject({ status: 'aborted' });
      expect(finished).toEqual([`onDone:${run.id}`, `onAbort:${pending.id}`]);
      await h.service.enable('conf.slow-hooks');
    });

    test('graceful stop lets running iterations finish; stop with a short timeout releases them to pending', async () => {
      const quick = await h.service.trigger({ definition: SleepTask, input: { ms: 100 } });
      await until(async () => (await h.service.get(quick.id))?.status === 'running');
      await h.engine.stop({ graceful: true, timeout: 5000 });
      await h.engine.start();
      expect((await h.service.get(quick.id))?.status).toBe('success');

      const slow = await h.service.trigger({ definition: SleepTask, input: { ms: 10_000 } });
      await until(async () => (await h.service.get(slow.id))?.status === 'running');
      await h.engine.stop({ graceful: true, timeout: 50 });
      // released with its checkpoint, never left running
      expect((await h.service.get(slow.id))?.status).toBe('pending');
      await h.engine.stop(); // get() reopened the storage: close it again
      await h.engine.start();
      await h.service.abort({ id: slow.id });
    });

    test('a schedule fires on its ticks; a tick is skipped while the previous scheduled run is pending', async () => {
      @Task({ id: 'conf.every-second', title: 'Every second', schedule: { cron: '* * * * * *' } })
      class EverySecond implements TaskDefinition<undefined, void> {
        run({ controller }: TaskRunParams<undefined, void>) {
          return controller.response.done();
        }
      }
      registerTasks(h.container, [EverySecond]); // registered while started: scheduled at once
      await until(async () => (await h.service.listRuns({ definition: 'conf.every-second', status: 'success' })).items.length >= 2, 5000);
      const first = (await h.service.listRuns({ definition: 'conf.every-second' })).items;
      expect(first.every((r) => typeof r.scheduledFor === 'string' && r.scheduledFor.endsWith('.000Z'))).toBe(true);
      expect(new Set(first.map((r) => r.scheduledFor)).size).toBe(first.length);

      await h.service.disable('conf.every-second'); // runs now stay pending
      const before = (await h.service.listRuns({ definition: 'conf.every-second', limit: 1000 })).items.length;
      await new Promise((r) => setTimeout(r, 3200));
      const pending = (await h.service.listRuns({ definition: 'conf.every-second', status: 'pending' })).items;
      expect(pending).toHaveLength(1);
      const after = (await h.service.listRuns({ definition: 'conf.every-second', limit: 1000 })).items.length;
      expect(after).toBeLessThanOrEqual(before + 1);
      await h.service.enable('conf.every-second');
    });

    test('outputs over maxOutputBytes fail the run with OUTPUT_TOO_LARGE', async () => {
      const run = await h.service.trigger({ definition: 'conf.big-output' });
      const done = await h.service.wait(run.id, { timeout: 5000 });
      expect(done.status).toBe('failed');
      expect(done.error?.code).toBe('OUTPUT_TOO_LARGE');
      expect(done.output).toBeUndefined();
    });

    test('persisted run logs are capped per run (maxLogsPerRun)', async () => {
      const run = await h.service.trigger({ definition: 'conf.chatty' });
      await h.service.wait(run.id, { timeout: 5000 });
      const logs = await h.service.listLogs({ runId: run.id, limit: 100 });
      expect(logs.items.map((l) => l.message)).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    });

    test('a hook that throws is logged and changes nothing', async () => {
      const run = await h.service.trigger({ definition: 'conf.bad-hook' });
      expect(await h.service.result(run.id, { timeout: 5000 })).toBe('fine');
      expect((await h.service.get(run.id))?.status).toBe('success');
    });

    test('fair across definitions: a deep queue of one definition does not starve another', async () => {
      const backlog = await Promise.all(Array.from({ length: 400 }, () => h.service.trigger({ definition: SleepTask, input: { ms: 20 } })));
      const other = await h.service.trigger({ definition: NoopTask });
      await h.service.wait(other.id, { timeout: 5000 });
      const pending = await h.service.listRuns({ definition: 'test.sleep', status: 'pending', limit: 1000 });
      expect(pending.items.length).toBeGreaterThan(100); // it started long before the backlog drained
      for (const r of backlog) await h.service.abort({ id: r.id });
    });

    test('a node that lost its lease cannot complete the run: its write is refused and logged (LEASE_LOST)', async () => {
      // Node A's clock is a minute behind: the lease it takes has expired in node B's time, so B
      // takes the run over while A's iteration is still under way (a stalled node, seen from B).
      await h.stop();
      const lines: string[] = [];
      const logger = captureLogger(lines);
      const a = await startHarness({
        storage: another(),
        tasks: [FencedTask],
        nodeId: 'node-a',
        leaseMs: 1000,
        pollMs: 50,
        logger,
        clock: { now: () => Date.now() - 60_000 },
        start: false,
      });
      const b = await startHarness({ storage: another(), tasks: [FencedTask], nodeId: 'node-b', leaseMs: 1000, pollMs: 50, start: false });
      try {
        await a.engine.start();
        const run = await a.service.trigger({ definition: FencedTask, input: { ms: 600 } });
        await until(async () => (await a.service.get(run.id))?.nodeId === 'node-a');
        await b.engine.start(); // B sees an expired lease and takes the run
        const done = await b.service.wait(run.id, { timeout: 10_000 });
        expect(done).toMatchObject({ status: 'success', output: 'node-b', attempt: 2, nodeId: 'node-b' });
        await until(() => lines.some((l) => l.includes('LEASE_LOST')), 5000); // A answered, too late
        const after = await b.service.get(run.id);
        expect(after).toMatchObject({ status: 'success', output: 'node-b' });
      } finally {
        await a.stop();
        await b.stop();
      }
    });

    test("an abort another node asked for ends the run with that node's message, even when the request reaches the run before the message is stored", async () => {
      await h.stop();
      const a = await startHarness({ storage: another(), tasks: [SleepTask], nodeId: 'node-a', leaseMs: 600, pollMs: 50 });
      try {
        const storage = a.container.get<RunStorage>(TOKENS.Storage);
        const run = await a.service.trigger({ definition: SleepTask, input: { ms: 30_000 } });
        await until(async () => (await a.service.get(run.id))?.status === 'running');
        // another node's abort(): its request stored (no notice reaches node A: its lease renewal,
        // every 200 ms, answers it), and its message stored only later
        expect((await storage.requestAbort(run.id, 'from node b', new Date().toISOString())).kind).toBe('requested');
        await new Promise((r) => setTimeout(r, 700));
        await storage.setValue(run.id, 'tasklane:abort-message', 'from node b');
        expect(await a.service.wait(run.id, { timeout: 10_000 })).toMatchObject({ status: 'aborted', error: { message: 'from node b', code: 'ABORTED' } });
      } finally {
        await a.stop();
      }
    });

    describeHardening(() => ({ h, another }));

    test('start/stop can be repeated and called concurrently', async () => {
      await Promise.all([h.engine.start(), h.engine.start(), h.engine.start()]);
      await Promise.all([h.engine.stop(), h.engine.stop()]);
      expect(h.engine.status).toBe('stopped');
      await h.engine.stop();
      for (let i = 0; i < 5; i++) {
        await h.engine.start();
        await h.engine.stop();
      }
      await h.engine.start();
      const run = await h.service.trigger({ definition: NoopTask });
      expect(await h.service.result(run.id, { timeout: 5000 })).toBe('ok');
    });
  });
}
