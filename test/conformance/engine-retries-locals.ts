/**
 * The engine conformance of API.md section 5's retries, `retry(id)`, `delete(id)`, task locals and
 * `restart()`: part of the engine suite (engine-conformance.ts calls it inside its describe block),
 * so it runs unchanged on memory, SQLite and PostgreSQL.
 */
import 'reflect-metadata';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Min } from 'class-validator';
import { inject } from 'inversify';
import {
  InvalidArgumentError,
  registerTasks,
  runWithContext,
  Task,
  TaskDefinitionFaultError,
  TaskNotFinishedError,
  TaskNotFoundError,
  TaskTriggerRefusedError,
  TaskValidationError,
  TOKENS,
  UnknownTaskDefinitionError,
  type BeforeTriggerParams,
  type RunError,
  type RunStorage,
  type TaskDefinition,
  type TaskRun,
  type TaskRunParams,
} from '../../src';
import { makeRun } from '../helpers/make-run';
import { newRunId } from '../../src/util/ids';
import type { Harness } from '../helpers/engine-harness';
import { Recorder } from '../fixtures/tasks';
import { until } from '../helpers/wait';

/** start times (epoch ms) of each execution's first iteration, by the key in the input */
const executions = new Map<string, number[]>();
const started = (key: string) => {
  const list = executions.get(key) ?? [];
  executions.set(key, list);
  list.push(Date.now());
  return list.length;
};
let keySeq = 0;
const freshKey = () => `k${Date.now()}-${++keySeq}`;

class FlakyInput {
  @IsString() key!: string;
  /** the first `failures` executions fail */
  @IsInt() @Min(0) failures!: number;
  /** how they fail */
  @IsOptional() @IsIn(['throw', 'answer', 'no-retry', 'unretryable', 'hang', 'abortable']) mode?: string;
  /** refused by onBeforeTrigger */
  @IsOptional() @IsBoolean() refuse?: boolean;
}

/** Fails its first `failures` executions, then succeeds with how many there were. Retried twice by default. */
@Task({ id: 'conf.flaky', title: 'Fails its first executions', input: FlakyInput, retry: { attempts: 3 }, iterationTimeout: 150 })
class FlakyTask implements TaskDefinition<FlakyInput, { executions: number; retries: number }> {
  constructor(@inject(Recorder) private readonly recorder: Recorder) {}
  onBeforeTrigger({ input }: BeforeTriggerParams<FlakyInput>) {
    if (input.refuse) throw new Error('refused on purpose');
  }
  async run({ input, controller, run }: TaskRunParams<FlakyInput, { executions: number; retries: number }>) {
    const n = started(input.key);
    if (n <= input.failures) {
      switch (input.mode) {
        case 'answer':
          return controller.response.error({ message: `fail ${n}`, code: 'E_FLAKY', data: { n } });
        case 'no-retry':
          return controller.response.error({ message: `final ${n}` }, { retry: false });
        case 'unretryable':
          throw Object.assign(new Error(`unretryable ${n}`), { retryable: false });
        case 'hang':
          await new Promise(() => undefined); // outlives iterationTimeout + grace: ITERATION_TIMEOUT
          break;
        case 'abortable':
          await controller.sleep(10_000); // until aborted, then fails anyway
          throw new Error(`failed after abort ${n}`);
      }
      throw Object.assign(new Error(`fail ${n}`), { code: 'E_FLAKY' });
    }
    return controller.response.done({ executions: n, retries: run.retries });
  }
  onError({ error }: { error: RunError }) {
    this.recorder.hooks.push(`onError:${error.message}`);
  }
  onAbort() {
    this.recorder.hooks.push('onAbort');
  }
}

/** the test holding a LateFailTask run releases it: the run fails then, not at a time */
const lateFailReleases = new Map<string, () => void>();

/** Its first execution fails when the test releases it; not abortable: it fails whatever happened meanwhile. */
@Task({ id: 'conf.late-fail', title: 'Fails when released', input: FlakyInput, retry: { attempts: 5, backoff: { type: 'fixed', delay: 60_000 } } })
class LateFailTask implements TaskDefinition<FlakyInput, void> {
  constructor(@inject(Recorder) private readonly recorder: Recorder) {}
  async run({ input, controller }: TaskRunParams<FlakyInput, void>) {
    const n = started(input.key);
    await new Promise<void>((resolve) => lateFailReleases.set(input.key, resolve));
    if (n <= input.failures) throw Object.assign(new Error(`fail ${n}`), { code: 'E_FLAKY' });
    return controller.response.done(undefined);
  }
  onError({ error }: { error: RunError }) {
    this.recorder.hooks.push(`onError:${error.message}`);
  }
  onAbort() {
    this.recorder.hooks.push('onAbort');
  }
}

class StepsInput {
  @IsString() key!: string;
  @IsOptional() @IsInt() @Min(0) step?: number;
}

/**
 * Three calls of run() from its input's step: 0 -> continue(1) -> continue(2) -> done. Its first
 * execution throws at step 1, after a checkpoint; maxIterations 2 per execution.
 */
@Task({ id: 'conf.steps', title: 'Checkpoints, fails once', input: StepsInput, maxIterations: 2, retry: { attempts: 2 } })
class StepsTask implements TaskDefinition<StepsInput, { step: number; stored: unknown }> {
  async run({ input, controller }: TaskRunParams<StepsInput, { step: number; stored: unknown }>) {
    const step = input.step ?? 0;
    if (step === 0) {
      started(input.key);
      await controller.store.set('mark', 'set in the first execution');
      return controller.response.continue({ step: 1 });
    }
    if (step === 1) {
      if (executions.get(input.key)!.length === 1) {
        started(input.key);
        throw new Error('boom at step 1');
      }
      return controller.response.continue({ step: 2 });
    }
    return controller.response.done({ step, stored: await controller.store.get('mark') });
  }
}

class CounterInput {
  @IsOptional() @IsInt() @Min(0) pauseMs?: number;
}

/** Adds one to the local `count` (an async update fn) and answers the value it wrote. */
@Task({ id: 'conf.counter', title: 'Counts its runs in a local', input: CounterInput, concurrency: 30 })
class CounterTask implements TaskDefinition<CounterInput, number> {
  async run({ input, controller }: TaskRunParams<CounterInput, number>) {
    const written = await controller.locals.update<number>('count', async (current) => {
      await new Promise((r) => setTimeout(r, input.pauseMs ?? 0));
      return (current ?? 0) + 1;
    });
    return controller.response.done(written as number);
  }
}

/** Tries hostile keys and values on its locals and reports what each call did. */
@Task({ id: 'conf.locals-probe', title: 'Probes its locals', maxInputBytes: 1024 })
class LocalsProbeTask implements TaskDefinition<undefined, { outcomes: Record<string, string>; got: Record<string, unknown> }> {
  async run({ controller }: TaskRunParams<undefined, { outcomes: Record<string, string>; got: Record<string, unknown> }>) {
    const { locals } = controller;
    const outcomes: Record<string, string> = {};
    const attempt = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
        outcomes[name] = 'ok';
      } catch (err) {
        outcomes[name] = (err as { code?: string }).code ?? (err as Error).message;
      }
    };
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await attempt('control', () => locals.set('bad\u0000key', 1));
    await attempt('reserved', () => locals.set('tasklane:x', 1));
    await attempt('empty', () => locals.set('', 1));
    await attempt('long', () => locals.set('x'.repeat(513), 1));
    await attempt('notString', () => locals.set(42 as unknown as string, 1));
    await attempt('function', () => locals.set('v', () => 1));
    await attempt('cycle', () => locals.set('v', cyclic));
    await attempt('proto', () => locals.set('v', JSON.parse('{"__proto__":{"polluted":1}}')));
    await attempt('big', () => locals.set('v', 'x'.repeat(2000)));
    await attempt('throwingFn', () =>
      locals.update('v', () => {
        throw new Error('fn refused');
      }),
    );
    await attempt('badResult', () => locals.update('v', () => new Date()));
    await attempt('notFn', () => locals.update('v', 'nope' as never));
    await attempt('set', () => locals.set('kept', { nested: [1, 'two'] }));
    await attempt('setThenDelete', async () => {
      await locals.set('gone', 1);
      await locals.set('gone', undefined);
    });
    await attempt('updateToUndefined', async () => {
      await locals.set('dropped', 1);
      await locals.update('dropped', () => undefined);
    });
    await attempt('syncUpdate', () => locals.update<number>('sync', (n) => (n ?? 10) + 1));
    const got = {
      v: await locals.get('v'),
      kept: await locals.get('kept'),
      gone: await locals.get('gone'),
      dropped: await locals.get('dropped'),
      sync: await locals.get('sync'),
    };
    return controller.response.done({ outcomes, got });
  }
}

class RestartableInput {
  @IsInt() @Min(0) ms!: number;
  @IsOptional() @IsBoolean() fail?: boolean;
  /** after its sleep, write a local whatever happened (a run aborted by a restart is refused) */
  @IsOptional() @IsBoolean() lateWrite?: boolean;
}

/** Counts itself in a local, sleeps (abortably), then ends aborted, failed or done. */
@Task({ id: 'conf.restartable', title: 'Restartable', input: RestartableInput })
class RestartableTask implements TaskDefinition<RestartableInput, string> {
  static executions = 0;
  /** the runs whose late write was refused */
  static refused: string[] = [];
  constructor(@inject(Recorder) private readonly recorder: Recorder) {}
  async run({ input, controller, run }: TaskRunParams<RestartableInput, string>) {
    RestartableTask.executions++;
    await controller.locals.update<number>('seen', (n) => (n ?? 0) + 1);
    const slept = await controller.sleep(input.ms);
    if (input.lateWrite) {
      try {
        await controller.locals.set('late', 'written after the restart');
      } catch (err) {
        RestartableTask.refused.push(run.id);
        throw err;
      }
    }
    if (!slept) return controller.response.aborted();
    if (input.fail) throw new Error('restartable failure');
    return controller.response.done('slept');
  }
  onAbort() {
    this.recorder.hooks.push('onAbort');
  }
}

export const RETRY_LOCALS_TASKS = [FlakyTask, LateFailTask, StepsTask, CounterTask, LocalsProbeTask, RestartableTask];

/** the events of one kind for one run, as they come */
function collect<E extends 'retrying' | 'aborted' | 'failed'>(
  h: Harness,
  event: E,
  runId: () => string | undefined,
): Array<{ run: TaskRun; error?: RunError; at: number }> {
  const seen: Array<{ run: TaskRun; error?: RunError; at: number }> = [];
  h.service.on(event, (e) => {
    if (e.run.id === runId()) seen.push({ ...(e as { run: TaskRun; error?: RunError }), at: Date.now() });
  });
  return seen;
}

/** Called inside describeEngineConformance: `get()` gives the current test's harness. */
export function describeRetriesLocalsRestart(get: () => { h: Harness }): void {
  describe('retries (API.md 5)', () => {
    test('a failed run goes back to pending and is retried: retries counted, retrying events, onError never called once it succeeds', async () => {
      const { h } = get();
      let id: string | undefined;
      const retrying = collect(h, 'retrying', () => id);
      const run = await h.service.trigger({ definition: FlakyTask, input: { key: freshKey(), failures: 2 } });
      id = run.id;
      expect(run.retries).toBe(0);
      const done = await h.service.wait(run.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'success', output: { executions: 3, retries: 2 }, retries: 2, attempt: 3, iterations: 3 });
      expect(done.error).toBeUndefined();
      expect(retrying.map((e) => [e.run.retries, e.run.status, e.error?.message, e.error?.code])).toEqual([
        [1, 'pending', 'fail 1', 'E_FLAKY'],
        [2, 'pending', 'fail 2', 'E_FLAKY'],
      ]);
      expect(h.recorder.hooks.filter((x) => x.startsWith('onError'))).toEqual([]);
      const row = (await h.service.stats()).find((s) => s.definitionId === 'conf.flaky')!;
      expect(row).toMatchObject({ evalNum: 3, errNum: 0, retryNum: 2 });
      const logs = (await h.service.listLogs({ runId: run.id })).items.map((l) => l.message);
      expect(logs.filter((m) => m.startsWith('failed, retrying'))).toHaveLength(2);
    });

    test('when no execution is left the run fails: onError once, errNum counts the final failure only', async () => {
      const { h } = get();
      const run = await h.service.trigger({ definition: FlakyTask, input: { key: freshKey(), failures: 5, mode: 'answer' } });
      const done = await h.service.wait(run.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'failed', retries: 2, attempt: 3, error: { message: 'fail 3', code: 'E_FLAKY', data: { n: 3 } } });
      expect(h.recorder.hooks).toEqual(['onError:fail 3']);
      expect((await h.service.stats()).find((s) => s.definitionId === 'conf.flaky')).toMatchObject({ errNum: 1, retryNum: 2, evalNum: 3 });
    });

    test('error(err, { retry: false }) and errors with retryable: false fail at once', async () => {
      const { h } = get();
      for (const mode of ['no-retry', 'unretryable']) {
        const key = freshKey();
        const run = await h.service.trigger({ definition: FlakyTask, input: { key, failures: 5, mode } });
        const done = await h.service.wait(run.id, { timeout: 10_000 });
        expect(done).toMatchObject({ status: 'failed', retries: 0, attempt: 1 });
        expect(executions.get(key)).toHaveLength(1);
      }
      expect(h.recorder.hooks).toEqual(['onError:final 1', 'onError:unretryable 1']);
    });

    test('the backoff delays each retry, and the waiting run holds the last error and its due time', async () => {
      const { h } = get();
      const key = freshKey();
      let id: string | undefined;
      const retrying = collect(h, 'retrying', () => id);
      // trigger({ retry }) overrides the definition's policy for this run
      const run = await h.service.trigger({
        definition: FlakyTask,
        input: { key, failures: 2 },
        retry: { attempts: 4, backoff: { type: 'fixed', delay: 400 } },
      });
      id = run.id;
      await until(() => retrying.length === 1);
      // the run as the event gave it (a read now may find the retry started: it is due 400 ms later)
      const waiting = retrying[0].run;
      expect(waiting).toMatchObject({ status: 'pending', retries: 1, error: { message: 'fail 1', code: 'E_FLAKY' } });
      // due 400 ms after the failure, which came after the execution started
      expect(Date.parse(waiting!.runAt!)).toBeGreaterThanOrEqual(executions.get(key)![0] + 400);
      const done = await h.service.wait(run.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'success', retries: 2, output: { executions: 3 } });
      const times = executions.get(key)!;
      for (let i = 1; i < times.length; i++) {
        expect(times[i]).toBeGreaterThanOrEqual(Date.parse(retrying[i - 1].run.runAt!)); // never before its due time
        expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(400);
      }
      // the run's own policy is stored with it: a definition without retry gets one for this run
      const plain = await h.service.trigger({ definition: 'test.fail', input: { message: 'once' }, retry: { attempts: 2 } });
      expect(await h.service.wait(plain.id, { timeout: 10_000 })).toMatchObject({ status: 'failed', retries: 1, attempt: 2 });
    });

    test('an abort ends a run waiting for its retry at once (onAbort); an abort during the failing iteration prevents any retry', async () => {
      const { h } = get();
      const key = freshKey();
      let id: string | undefined;
      const retrying = collect(h, 'retrying', () => id);
      const run = await h.service.trigger({
        definition: FlakyTask,
        input: { key, failures: 5 },
        retry: { attempts: 5, backoff: { type: 'fixed', delay: 60_000 } },
      });
      id = run.id;
      await until(() => retrying.length === 1);
      const aborted = await h.service.abort({ id: run.id, message: 'give up' });
      expect(aborted).toMatchObject({ status: 'aborted', retries: 1, error: { message: 'give up', code: 'ABORTED' } });
      expect(h.recorder.hooks).toEqual(['onAbort']);
      await new Promise((r) => setTimeout(r, 300));
      expect(executions.get(key)).toHaveLength(1);

      // aborted while it runs, then it throws: it fails (the answer decides) and is not retried
      const key2 = freshKey();
      const second = await h.service.trigger({ definition: FlakyTask, input: { key: key2, failures: 5, mode: 'abortable' } });
      await until(async () => (await h.service.get(second.id))?.status === 'running' && executions.get(key2)?.length === 1);
      await h.service.abort({ id: second.id });
      const ended = await h.service.wait(second.id, { timeout: 10_000 });
      expect(ended).toMatchObject({ status: 'failed', retries: 0, error: { message: 'failed after abort 1' } });
      await new Promise((r) => setTimeout(r, 300));
      expect(executions.get(key2)).toHaveLength(1);
    });

    test('an abort another node recorded while the failing iteration ran here ends the run at once, not at its retry', async () => {
      const { h } = get();
      const key = freshKey();
      const storage = h.container.get<RunStorage>(TOKENS.Storage);
      const run = await h.service.trigger({ definition: LateFailTask, input: { key, failures: 5 } });
      await until(() => lateFailReleases.has(key));
      // as abort() on another node does: recorded in storage, the message kept with the run; this
      // node has not heard of it (no broadcast) when its iteration fails, right after
      expect((await storage.requestAbort(run.id, 'from elsewhere', new Date().toISOString())).kind).toBe('requested');
      await storage.setValue(run.id, 'tasklane:abort-message', 'from elsewhere');
      lateFailReleases.get(key)!();
      const done = await h.service.wait(run.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'aborted', retries: 1, error: { message: 'from elsewhere', code: 'ABORTED' } });
      expect(h.recorder.hooks).toEqual(['onAbort']);
      expect(executions.get(key)).toHaveLength(1);
    });

    test('a run back to pending for its retry counts in maxBacklog again', async () => {
      const { h } = get();
      @Task({
        id: 'conf.flaky-backlog',
        title: 'Always fails, one pending at most',
        maxBacklog: 1,
        retry: { attempts: 3, backoff: { type: 'fixed', delay: 60_000 } },
      })
      class FlakyBacklogTask implements TaskDefinition<undefined, void> {
        run(): never {
          throw new Error('always');
        }
      }
      registerTasks(h.container, [FlakyBacklogTask]);
      let id: string | undefined;
      const retrying = collect(h, 'retrying', () => id);
      const run = await h.service.trigger({ definition: FlakyBacklogTask });
      id = run.id;
      await until(() => retrying.length === 1);
      // claimed, it left the backlog; failed and waiting for its retry, it is pending again: full
      await expect(h.service.trigger({ definition: FlakyBacklogTask })).rejects.toMatchObject({ code: 'QUEUE_FULL' });
      await h.service.abort({ id: run.id });
      const next = await h.service.trigger({ definition: FlakyBacklogTask, delay: 60_000 });
      await h.service.abort({ id: next.id });
    });

    test('a timed-out iteration is retried; MAX_ITERATIONS and an invalid continue() patch are not', async () => {
      const { h } = get();
      const key = freshKey();
      const run = await h.service.trigger({ definition: FlakyTask, input: { key, failures: 1, mode: 'hang' } });
      const done = await h.service.wait(run.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'success', retries: 1, output: { executions: 2 } });
      const forever = await h.service.trigger({ definition: 'test.forever', retry: { attempts: 3 } });
      expect(await h.service.wait(forever.id, { timeout: 10_000 })).toMatchObject({ status: 'failed', retries: 0, error: { code: 'MAX_ITERATIONS' } });
      const badPatch = await h.service.trigger({ definition: 'conf.badpatch', input: { count: 1 }, retry: { attempts: 3 } });
      expect(await h.service.wait(badPatch.id, { timeout: 10_000 })).toMatchObject({ status: 'failed', retries: 0, error: { code: 'INPUT_INVALID' } });
    });

    test('a retry keeps the checkpointed input and store values, and gets its own maxIterations budget', async () => {
      const { h } = get();
      const key = freshKey();
      const run = await h.service.trigger({ definition: StepsTask, input: { key } });
      const done = await h.service.wait(run.id, { timeout: 10_000 });
      // 4 calls of run() in all with maxIterations 2: 2 in the failed execution, 2 in the retry,
      // which resumed from the checkpoint (step 1) with the store value of the first execution
      expect(done).toMatchObject({
        status: 'success',
        iterations: 4,
        retries: 1,
        input: { key, step: 2 },
        output: { step: 2, stored: 'set in the first execution' },
      });
    });

    test('a run waiting for its retry survives a restart of the engine and runs at its due time, not before', async () => {
      const { h } = get();
      const key = freshKey();
      let id: string | undefined;
      const retrying = collect(h, 'retrying', () => id);
      const run = await h.service.trigger({
        definition: FlakyTask,
        input: { key, failures: 1 },
        retry: { attempts: 2, backoff: { type: 'fixed', delay: 1500 } },
      });
      id = run.id;
      await until(() => retrying.length === 1);
      const dueAt = Date.parse(retrying[0].run.runAt!);
      await h.engine.stop();
      expect((await h.service.get(run.id))?.status).toBe('pending'); // it holds no worker
      await h.engine.stop(); // get() opened the storage again
      await new Promise((r) => setTimeout(r, 200));
      await h.engine.start();
      const done = await h.service.wait(run.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'success', retries: 1, attempt: 2 });
      const times = executions.get(key)!;
      expect(times).toHaveLength(2);
      expect(times[1]).toBeGreaterThanOrEqual(dueAt);
      expect(dueAt - times[0]).toBeGreaterThanOrEqual(1500);
    });

    test('a broken retry policy is refused: InvalidArgumentError at trigger (nothing stored), fault on @Task', async () => {
      const { h } = get();
      const bad: unknown[] = [
        null,
        { attempts: 0 },
        { attempts: 1.5 },
        { attempts: '3' },
        { attempts: 2, extra: true },
        { attempts: 2, backoff: { type: 'linear', delay: 1 } },
        { attempts: 2, backoff: { type: 'fixed', delay: -1 } },
        { attempts: 2, backoff: { type: 'fixed', delay: Number.POSITIVE_INFINITY } },
        { attempts: 2, backoff: { type: 'fixed', delay: 11 * 365 * 24 * 3600_000 } },
        { attempts: 2, backoff: { type: 'exponential', delay: 1, maxDelay: Number.NaN } },
        { attempts: 2, backoff: { type: 'fixed', delay: 1, jitter: 'yes' } },
      ];
      const before = (await h.service.listRuns({ definition: 'test.noop', limit: 1000 })).items.length;
      for (const retry of bad) {
        await expect(h.service.trigger({ definition: 'test.noop', retry: retry as never })).rejects.toBeInstanceOf(InvalidArgumentError);
      }
      expect((await h.service.listRuns({ definition: 'test.noop', limit: 1000 })).items).toHaveLength(before);
      for (const [i, retry] of bad.entries()) {
        @Task({ id: `conf.bad-retry-${i}`, title: 'Broken retry', retry: retry as never })
        class BadRetry implements TaskDefinition<undefined, void> {
          run({ controller }: TaskRunParams<undefined, void>) {
            return controller.response.done();
          }
        }
        const [def] = registerTasks(h.container, [BadRetry]);
        expect(def.fault?.code).toBe('DEFINITION_INVALID');
        await expect(h.service.trigger({ definition: BadRetry })).rejects.toBeInstanceOf(TaskDefinitionFaultError);
      }
      const info = (await h.service.listDefinitions()).find((d) => d.id === 'conf.flaky');
      expect(info?.retry).toEqual({ attempts: 3 });
    });
  });

  describe('retry(id) and delete(id) (API.md 5)', () => {
    test('retry(id): a new run with the input as triggered, the context and the run policy, retryOf set', async () => {
      const { h } = get();
      // test.count checkpoints with continue({ next }): its input ends as { count: 3, next: 2 }
      const first = await runWithContext({ tenant: 't9' }, () => h.service.trigger({ definition: 'test.count', input: { count: 3 }, name: 'count-1' }));
      expect((await h.service.wait(first.id, { timeout: 10_000 })).input).toEqual({ count: 3, next: 2 });
      const again = await h.service.retry(first.id);
      expect(again).toMatchObject({ status: 'pending', retryOf: first.id, input: { count: 3 }, context: { tenant: 't9' }, name: 'count-1', retries: 0 });
      expect(again.id).not.toBe(first.id);
      const done = await h.service.wait(again.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'success', retryOf: first.id, iterations: 3, retries: 0, output: { total: 3 } });
      expect((await h.service.get(first.id))?.retryOf).toBeUndefined();

      // a failed run with its own policy: the new run gets that policy again
      const failing = await h.service.trigger({ definition: FlakyTask, input: { key: freshKey(), failures: 3 }, retry: { attempts: 2 } });
      expect(await h.service.wait(failing.id, { timeout: 10_000 })).toMatchObject({ status: 'failed', retries: 1 });
      const retried = await h.service.retry(failing.id);
      expect(await h.service.wait(retried.id, { timeout: 10_000 })).toMatchObject({ status: 'success', retries: 1, output: { executions: 4 } });
    });

    test('retry(id) is refused for an unfinished, unknown or inline run, and goes through the trigger pipeline', async () => {
      const { h } = get();
      const pending = await h.service.trigger({ definition: FlakyTask, input: { key: freshKey(), failures: 0 }, delay: 60_000 });
      const err = await h.service.retry(pending.id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TaskNotFinishedError);
      expect(err).toMatchObject({ code: 'TASK_NOT_FINISHED', runId: pending.id, status: 'pending' });
      await expect(h.service.retry('00000000000000000000000000')).rejects.toBeInstanceOf(TaskNotFoundError);
      await expect(h.service.retry(42 as unknown as string)).rejects.toBeInstanceOf(InvalidArgumentError);
      await h.service.runInline(() => 1);
      const [inline] = (await h.service.listRuns({ definition: 'inline' })).items;
      await expect(h.service.retry(inline.id)).rejects.toBeInstanceOf(InvalidArgumentError);
      // onBeforeTrigger sees the retry: its refusal is the trigger's
      const key = freshKey();
      const done = await h.service.trigger({ definition: FlakyTask, input: { key, failures: 0 } });
      await h.service.wait(done.id, { timeout: 10_000 });
      const storage = h.container.get<RunStorage>(TOKENS.Storage);
      const refused = makeRun({
        definitionId: 'conf.flaky',
        input: { key, failures: 0, refuse: true },
        status: 'success',
        finishedOn: new Date().toISOString(),
      });
      await storage.insertRuns([refused]);
      await expect(h.service.retry(refused.id)).rejects.toBeInstanceOf(TaskTriggerRefusedError);
      // the input is validated against the input class as it is now
      const invalid = makeRun({ definitionId: 'conf.flaky', input: { key, failures: -1 }, status: 'failed', finishedOn: new Date().toISOString() });
      await storage.insertRuns([invalid]);
      await expect(h.service.retry(invalid.id)).rejects.toBeInstanceOf(TaskValidationError);
      const unknown = makeRun({ definitionId: 'conf.gone', input: {}, status: 'failed', finishedOn: new Date().toISOString() });
      await storage.insertRuns([unknown]);
      await expect(h.service.retry(unknown.id)).rejects.toBeInstanceOf(UnknownTaskDefinitionError);
      await h.service.abort({ id: pending.id });
    });

    test('delete(id): a finished run goes with its logs and values and its children; unfinished ones are refused; unknown is false', async () => {
      const { h } = get();
      const run = await h.service.trigger({ definition: 'test.count', input: { count: 2 } });
      await h.service.wait(run.id, { timeout: 10_000 });
      expect((await h.service.listLogs({ runId: run.id })).items.length).toBeGreaterThan(0);
      expect(await h.service.delete(run.id)).toBe(true);
      expect(await h.service.get(run.id)).toBeNull();
      expect((await h.service.listLogs({ runId: run.id })).items).toEqual([]);
      await expect(h.service.wait(run.id, { timeout: 1000 })).rejects.toBeInstanceOf(TaskNotFoundError);
      expect(await h.service.delete(run.id)).toBe(false);
      expect(await h.service.delete('00000000000000000000000000')).toBe(false);
      expect(await h.service.delete('not a run id!')).toBe(false);
      await expect(h.service.delete(7 as unknown as string)).rejects.toBeInstanceOf(InvalidArgumentError);

      const pending = await h.service.trigger({ definition: 'test.noop', delay: 60_000 });
      await expect(h.service.delete(pending.id)).rejects.toBeInstanceOf(TaskNotFinishedError);
      expect((await h.service.get(pending.id))?.status).toBe('pending');

      // a parent with a child still waiting: refused, naming the child; once it ended, both go
      const parent = await h.service.trigger({ definition: 'conf.parent', input: { count: 2 } });
      const children = await h.service.result<string[]>(parent.id, { timeout: 10_000 });
      for (const id of children) await h.service.wait(id, { timeout: 10_000 });
      const late = await h.service.trigger({ definition: 'test.noop', parent: parent.id, delay: 60_000 });
      const err = (await h.service.delete(parent.id).catch((e: unknown) => e)) as TaskNotFinishedError;
      expect(err).toBeInstanceOf(TaskNotFinishedError);
      expect(err.message).toContain(late.id);
      await h.service.abort({ id: late.id });
      expect(await h.service.delete(parent.id)).toBe(true);
      for (const id of [parent.id, late.id, ...children]) expect(await h.service.get(id)).toBeNull();
      await h.service.abort({ id: pending.id });
    });
  });

  describe('task locals (API.md 5)', () => {
    test('concurrent update() calls of 30 runs lose no write: each run wrote a different count, the local ends at 30', async () => {
      const { h } = get();
      const runs = await Promise.all(Array.from({ length: 30 }, () => h.service.trigger({ definition: CounterTask, input: { pauseMs: 5 } })));
      const outputs = await Promise.all(runs.map((r) => h.service.result<number>(r.id, { timeout: 30_000 })));
      expect([...outputs].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      const locals = await h.service.locals('conf.counter');
      expect(Object.getPrototypeOf(locals)).toBeNull();
      expect({ ...locals }).toEqual({ count: 30 });
      expect({ ...(await h.service.locals(CounterTask)) }).toEqual({ count: 30 });
      // durable: still there after a restart of the engine, and the next run goes on from it
      await h.engine.stop();
      await h.engine.start();
      const next = await h.service.trigger({ definition: CounterTask, input: {} });
      expect(await h.service.result(next.id, { timeout: 10_000 })).toBe(31);
    });

    test('hostile keys and values are refused with typed errors and nothing is written; deletes and sync updates', async () => {
      const { h } = get();
      const run = await h.service.trigger({ definition: LocalsProbeTask });
      const { outcomes, got } = await h.service.result<{ outcomes: Record<string, string>; got: Record<string, unknown> }>(run.id, { timeout: 10_000 });
      expect(outcomes).toEqual({
        control: 'INVALID_ARGUMENT',
        reserved: 'INVALID_ARGUMENT',
        empty: 'INVALID_ARGUMENT',
        long: 'INVALID_ARGUMENT',
        notString: 'INVALID_ARGUMENT',
        function: 'INPUT_INVALID',
        cycle: 'INPUT_INVALID',
        proto: 'INPUT_INVALID',
        big: 'INPUT_TOO_LARGE',
        throwingFn: 'fn refused',
        badResult: 'INPUT_INVALID',
        notFn: 'INVALID_ARGUMENT',
        set: 'ok',
        setThenDelete: 'ok',
        updateToUndefined: 'ok',
        syncUpdate: 'ok',
      });
      expect(got).toEqual({ kept: { nested: [1, 'two'] }, sync: 11 });
      expect({ ...(await h.service.locals('conf.locals-probe')) }).toEqual({ kept: { nested: [1, 'two'] }, sync: 11 });
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      await expect(h.service.locals('conf.nope')).rejects.toBeInstanceOf(UnknownTaskDefinitionError);
    });
  });

  describe('restart(definition) (API.md 5)', () => {
    test('pending runs end aborted with onAbort, the running one at its checkpoint; stats and locals start again; later runs are not affected', async () => {
      const { h } = get();
      RestartableTask.executions = 0;
      const failed = await h.service.trigger({ definition: RestartableTask, input: { ms: 0, fail: true } });
      await h.service.wait(failed.id, { timeout: 10_000 });
      const running = await h.service.trigger({ definition: RestartableTask, input: { ms: 10_000 } });
      await until(async () => (await h.service.get(running.id))?.status === 'running' && RestartableTask.executions === 2);
      await until(async () => (await h.service.locals(RestartableTask)).seen === 2);
      const pending = await Promise.all([1, 2, 3].map(() => h.service.trigger({ definition: RestartableTask, input: { ms: 0 }, delay: 60_000 })));
      const before = (await h.service.stats()).find((s) => s.definitionId === 'conf.restartable')!;
      expect(before).toMatchObject({ errNum: 1, queueSize: 3, queuePeak: 3 });
      expect(before.evalNum).toBeGreaterThanOrEqual(1);

      const result = await h.service.restart(RestartableTask, { message: 'fresh start' });
      expect(result).toEqual({ definitionId: 'conf.restartable', aborted: 3, abortRequested: 1, localsCleared: 1 });
      for (const p of pending) {
        expect(await h.service.get(p.id)).toMatchObject({ status: 'aborted', error: { message: 'fresh start', code: 'ABORTED' } });
      }
      const ended = await h.service.wait(running.id, { timeout: 10_000 });
      expect(ended).toMatchObject({ status: 'aborted', error: { message: 'fresh start', code: 'ABORTED' } });
      expect(h.recorder.hooks.filter((x) => x === 'onAbort')).toHaveLength(4);
      const after = (await h.service.stats()).find((s) => s.definitionId === 'conf.restartable')!;
      expect(after).toMatchObject({ errNum: 0, retryNum: 0, queueSize: 0, queuePeak: 0 });
      expect(after.lastError).toBeUndefined();
      expect(after.evalNum).toBeLessThanOrEqual(1); // at most the running run's last iteration, which ended after the restart
      expect({ ...(await h.service.locals(RestartableTask)) }).toEqual({});

      const later = await h.service.trigger({ definition: RestartableTask, input: { ms: 0 } });
      expect(await h.service.result(later.id, { timeout: 10_000 })).toBe('slept');
      expect({ ...(await h.service.locals(RestartableTask)) }).toEqual({ seen: 1 });
      expect(RestartableTask.executions).toBe(3);
      await expect(h.service.restart('conf.nope')).rejects.toBeInstanceOf(UnknownTaskDefinitionError);
    });

    test('a run created before the restart but stored after its sweep ends aborted without running; a run aborted by it cannot write its locals back', async () => {
      const { h } = get();
      RestartableTask.executions = 0;
      const storage = h.container.get<RunStorage>(TOKENS.Storage);
      // a trigger made before the restart (its id is older) that reached storage after it: as another node's in-flight trigger would
      const early = makeRun({ definitionId: 'conf.restartable', input: { ms: 0 } });
      // a run that writes a local after its sleep, even when the restart's abort cut it short: the
      // restart recorded its cut-off before it asked for the abort, so that write is refused
      const stubborn = await h.service.trigger({ definition: RestartableTask, input: { ms: 10_000, lateWrite: true } });
      await until(() => RestartableTask.executions === 1);
      await h.service.restart('conf.restartable');
      await storage.insertRuns([early]);
      const done = await h.service.wait(early.id, { timeout: 10_000 });
      expect(done).toMatchObject({ status: 'aborted', error: { code: 'ABORTED' } });
      const ended = await h.service.wait(stubborn.id, { timeout: 10_000 });
      expect(ended.status).toBe('aborted');
      expect(RestartableTask.executions).toBe(1); // the early run never ran
      expect(h.recorder.hooks.filter((x) => x === 'onAbort')).toHaveLength(2);
      expect({ ...(await h.service.locals(RestartableTask)) }).toEqual({});
    });

    test("a run whose locals write another node's restart refused ends with that restart's message, once stored; with its own when none comes", async () => {
      const { h } = get();
      const storage = h.container.get<RunStorage>(TOKENS.Storage);
      const restartElsewhere = async () => {
        // as another node's restart begins: its cut-off recorded, its message not stored yet
        await storage.restartDefinition('conf.restartable', newRunId(Date.now()));
      };
      for (const [message, expected] of [
        ['again', 'again'],
        [undefined, 'the definition "conf.restartable" was restarted'],
      ] as const) {
        const run = await h.service.trigger({ definition: RestartableTask, input: { ms: 2000, lateWrite: true } });
        await until(async () => (await h.service.locals(RestartableTask)).seen === 1, 10_000);
        await restartElsewhere(); // the run's late write, after its sleep, is refused
        await until(() => RestartableTask.refused.includes(run.id), 10_000, 'the late write to be refused');
        if (message !== undefined) {
          // that node goes on: it asks for the run's abort and stores its message
          expect((await storage.requestAbort(run.id, message, new Date().toISOString())).kind).toBe('requested');
          await storage.setValue(run.id, 'tasklane:abort-message', message);
        }
        const ended = await h.service.wait(run.id, { timeout: 10_000 });
        expect(ended).toMatchObject({ status: 'aborted', error: { message: expected, code: 'ABORTED' } });
      }
    });

    test('the unfinished children of the runs a restart aborts are aborted too', async () => {
      const { h } = get();
      const parent = await h.service.trigger({ definition: RestartableTask, input: { ms: 10_000 } });
      await until(async () => (await h.service.get(parent.id))?.status === 'running');
      const child = await h.service.trigger({ definition: 'test.sleep', input: { ms: 1 }, parent: parent.id, delay: 60_000 });
      await h.service.restart(RestartableTask, { message: 'again' });
      expect(await h.service.wait(child.id, { timeout: 10_000 })).toMatchObject({ status: 'aborted' });
      expect(await h.service.wait(parent.id, { timeout: 10_000 })).toMatchObject({ status: 'aborted', error: { message: 'again' } });
    });
  });
}
