import 'reflect-metadata';
import { IsIn, IsInt, IsOptional, IsString, Min } from 'class-validator';
import { inject } from 'inversify';
import { Writable } from 'node:stream';
import { createLogger, format, transports, type Logger } from 'winston';
import {
  InvalidArgumentError,
  runWithContext,
  Task,
  TaskFailedError,
  TasklaneError,
  TaskValidationError,
  type RunStorage,
  type TaskDefinition,
  type TaskResponse,
  type TaskRun,
  type TaskRunParams,
} from '../../src';
import { defaultLogger } from '../../src/core/default-logger';
import { UNREADABLE_ERROR } from '../../src/core/coerce-error';
import { MAX_DURATION_MS } from '../../src/util/duration';
import { startHarness, type Harness } from '../helpers/engine-harness';
import { NoopTask, Recorder, SleepTask } from '../fixtures/tasks';
import { until } from '../helpers/wait';

/**
 * Issue 8 (hardening): hostile values from callers and tasks end cleanly, durations are bounded,
 * progress merges, queuePeak follows triggers and claims. Part of the engine conformance suite:
 * run unchanged on memory, SQLite and PostgreSQL (see describeEngineConformance).
 */

/** values that cannot be inspected safely: reading or converting them throws */
export function hostileValues(): Record<string, () => unknown> {
  const boom = () => {
    throw new Error('boom');
  };
  const throwingTraps: ProxyHandler<object> = { get: boom, has: boom, ownKeys: boom, getPrototypeOf: boom, getOwnPropertyDescriptor: boom, apply: boom };
  return {
    'null-prototype object': () => Object.create(null),
    'throwing toString': () => ({ toString: boom, valueOf: boom }),
    'throwing Symbol.toPrimitive': () => ({ [Symbol.toPrimitive]: boom }),
    'throwing message getter': () => ({
      get message() {
        return boom();
      },
    }),
    'Proxy with throwing traps': () => new Proxy({}, throwingTraps),
    'Error with a throwing message getter': () => {
      const e = new Error('hidden');
      Object.defineProperty(e, 'message', { get: boom });
      return e;
    },
  };
}

/** Errors some of whose fields cannot be read: the readable message is kept */
function partlyReadableErrors(): Record<string, () => unknown> {
  const boom = () => {
    throw new Error('boom');
  };
  const withGetter = (field: string) => () => {
    const e = new Error(`readable message, unreadable ${field}`);
    Object.defineProperty(e, field, { get: boom });
    return e;
  };
  return { stack: withGetter('stack'), code: withGetter('code'), data: withGetter('data') };
}

class HostileInput {
  @IsString() kind!: string;
  @IsIn(['throw', 'reject', 'answer', 'return']) mode!: string;
}

@Task({ id: 'hard.hostile-error', title: 'Fails with a value that cannot be read', input: HostileInput })
class HostileErrorTask implements TaskDefinition<HostileInput, never> {
  constructor(@inject(Recorder) private readonly recorder: Recorder) {}
  run({ input, controller }: TaskRunParams<HostileInput, never>): Promise<TaskResponse<never>> | TaskResponse<never> {
    const make = hostileValues()[input.kind] ?? partlyReadableErrors()[input.kind];
    const value = make();
    if (input.mode === 'throw') throw value;
    if (input.mode === 'reject') return Promise.reject(value);
    if (input.mode === 'return') return value as never;
    return controller.response.error(value as Error);
  }
  onError({ error }: { error: { message: string } }) {
    this.recorder.hooks.push(`onError:${error.message}`);
  }
}

class PatchInput {
  @IsString() kind!: string;
  @IsOptional() @IsInt() @Min(0) n?: number;
}

@Task({ id: 'hard.patch', title: 'Answers continue() with a patch that cannot be read', input: PatchInput })
class HostilePatchTask implements TaskDefinition<PatchInput, never> {
  run({ input, controller }: TaskRunParams<PatchInput, never>) {
    const patch =
      input.kind === 'getter'
        ? {
            get n(): number {
              throw new Error('boom');
            },
          }
        : input.kind === 'proxy'
          ? new Proxy(
              { n: 1 },
              {
                ownKeys() {
                  throw new Error('boom');
                },
                get() {
                  throw new Error('boom');
                },
              },
            )
          : { n: 1 };
    return controller.response.continue(patch);
  }
}

@Task({ id: 'hard.empty-patch', title: 'No input class; continues with an empty patch once' })
class EmptyPatchTask implements TaskDefinition<undefined, string> {
  run({ controller, run }: TaskRunParams<undefined, string>) {
    if (run.iterations === 1) return controller.response.continue({} as never, { delay: 20 });
    return controller.response.done('second');
  }
}

class DelayInput {
  @IsString() delay!: string;
}

@Task({ id: 'hard.continue-delay', title: 'Answers continue() with a delay out of range', input: DelayInput })
class ContinueDelayTask implements TaskDefinition<DelayInput, never> {
  run({ input, controller }: TaskRunParams<DelayInput, never>) {
    const delay = { huge: 1e20, infinite: Infinity, negative: -1, nan: NaN, text: '5' as unknown as number }[input.delay];
    return controller.response.continue(undefined, { delay });
  }
}

/** logs data winston and storage cannot serialise as given */
@Task({ id: 'hard.log', title: 'Logs hostile data' })
class HostileLogTask implements TaskDefinition<undefined, string[]> {
  run({ controller }: TaskRunParams<undefined, string[]>) {
    const thrown: string[] = [];
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const cases: Array<[string, unknown]> = [
      [
        'getter',
        {
          ok: 1,
          get bad(): number {
            throw new Error('getter');
          },
        },
      ],
      [
        'toJSON',
        {
          toJSON() {
            throw new Error('toJSON');
          },
        },
      ],
      [
        'proxy',
        new Proxy(
          {},
          {
            get() {
              throw new Error('trap');
            },
            ownKeys() {
              throw new Error('trap');
            },
          },
        ),
      ],
      ['cycle', cyclic],
      ['bigint', { big: 10n }],
      ['null-prototype', Object.create(null)],
    ];
    for (const [name, data] of cases) {
      try {
        controller.log.info(`data ${name}`, data);
      } catch (err) {
        thrown.push(name);
      }
    }
    try {
      controller.log.warn({
        toString() {
          throw new Error('message');
        },
      } as unknown as string);
    } catch {
      thrown.push('message');
    }
    return controller.response.done(thrown);
  }
}

/** calls its controller's methods with arguments that are not what they take; answers the codes */
@Task({ id: 'hard.controller-args', title: 'Misuses its controller' })
class ControllerArgsTask implements TaskDefinition<undefined, Record<string, string>> {
  async run({ controller }: TaskRunParams<undefined, Record<string, string>>) {
    const codes: Record<string, string> = {};
    const nasty = hostileValues();
    const attempt = async (name: string, fn: () => unknown) => {
      try {
        await fn();
        codes[name] = 'no error';
      } catch (err) {
        codes[name] = TasklaneError.is(err) ? err.code : `raw ${(err as Error)?.constructor?.name}`;
      }
    };
    for (const [label, make] of Object.entries(nasty)) {
      await attempt(`store.get ${label}`, () => controller.store.get(make() as string));
      await attempt(`store.set ${label}`, () => controller.store.set(make() as string, 1));
      await attempt(`progress ${label}`, () => controller.progress(make() as object));
      await attempt(`sleep ${label}`, () => controller.sleep(make() as number));
      await attempt(`trigger ${label}`, () => controller.trigger(make() as { definition: string }));
      await attempt(`trigger definition ${label}`, () => controller.trigger({ definition: make() as string }));
    }
    await attempt('store.set NUL key', () => controller.store.set('a\u0000b', 1));
    await attempt('store.get NUL key', () => controller.store.get('a\u0000b'));
    await attempt('progress getter', () =>
      controller.progress({
        get info(): string {
          throw new Error('boom');
        },
      }),
    );
    await attempt('sleep Infinity', () => controller.sleep(Infinity));
    await attempt('sleep 1e20', () => controller.sleep(1e20));
    return controller.response.done(codes);
  }
}

/** sleeps longer than a Node timer holds: must not wake up early */
@Task({ id: 'hard.long-sleep', title: 'Sleeps 2^31 ms' })
class LongSleepTask implements TaskDefinition<undefined, string> {
  async run({ controller }: TaskRunParams<undefined, string>) {
    const finished = await controller.sleep(2 ** 31 + 5);
    return finished ? controller.response.done('woke up early') : controller.response.aborted();
  }
}

@Task({ id: 'hard.progress', title: 'Reports progress in parts' })
class ProgressMergeTask implements TaskDefinition<undefined, string> {
  static seen: unknown[] = [];
  run({ controller, run }: TaskRunParams<undefined, string>) {
    if (run.iterations === 1) {
      controller.progress({ info: 'starting', current: 1, total: 4 });
      controller.progress({ info: 'half way' });
      return controller.response.continue();
    }
    controller.progress({ current: 3 });
    controller.progress({ info: 'Task completed', total: null });
    return controller.response.done('ok');
  }
}

class KindInput {
  @IsString() kind!: string;
}

/** its onBeforeTrigger throws the value named by the input; its onDone a Proxy whose traps throw */
@Task({ id: 'hard.hooks', title: 'Hooks that throw values that cannot be read', input: KindInput })
class HostileHooksTask implements TaskDefinition<KindInput, string> {
  onBeforeTrigger({ input }: { input: Readonly<KindInput> }) {
    const make = hostileValues()[input.kind];
    if (make) throw make();
  }
  run({ controller }: TaskRunParams<KindInput, string>) {
    return controller.response.done('ran');
  }
  onDone() {
    throw hostileValues()['Proxy with throwing traps']!();
  }
}

export const HARDENING_TASKS = [
  HostileHooksTask,
  HostileErrorTask,
  HostilePatchTask,
  EmptyPatchTask,
  ContinueDelayTask,
  HostileLogTask,
  ControllerArgsTask,
  LongSleepTask,
  ProgressMergeTask,
];

/** the code of what `fn` threw or rejected with ('none' when it did not fail, 'raw <Class>' for a non-tasklane error) */
async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
    return 'none';
  } catch (err) {
    return TasklaneError.is(err) ? err.code : `raw ${(err as Error)?.constructor?.name ?? typeof err}`;
  }
}

function expectOneOf(label: string, code: string, allowed: string[]): void {
  expect({ label, code, allowed: allowed.includes(code) }).toEqual({ label, code, allowed: true });
}

/** a winston logger writing its lines (JSON text) to `lines`, with `base`'s format */
function streamLogger(lines: string[], base?: Logger): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  if (base) {
    base.level = 'info';
    base.silent = false;
    base.clear().add(new transports.Stream({ stream }));
    return base;
  }
  return createLogger({ level: 'info', format: format.json(), transports: [new transports.Stream({ stream })] });
}

export function describeHardening(ctx: () => { h: Harness; another: () => RunStorage }): void {
  describe('hardening (issue 8)', () => {
    const h = () => ctx().h;

    describe('errors that cannot be read end the run failed at once, onError called', () => {
      const cases = Object.keys(hostileValues()).flatMap((kind) => ['throw', 'reject', 'answer'].map((mode) => [kind, mode]));
      // returned rather than thrown: only a Proxy cannot be read as an answer (the others are outputs, valid or not)
      cases.push(['Proxy with throwing traps', 'return']);
      test.each(cases)('%s (%s)', async (kind, mode) => {
        const run = await h().service.trigger({ definition: 'hard.hostile-error', input: { kind, mode } });
        const done = await h().service.wait(run.id, { timeout: 5000 });
        expect(done.status).toBe('failed');
        if (mode === 'return') {
          expect(done.error?.code).toBe('TASK_ERROR');
          expect(done.error?.message).toMatch(/^The answer of run\(\) could not be read/);
        } else {
          expect(done.error?.message.startsWith(UNREADABLE_ERROR)).toBe(true);
        }
        await until(() => h().recorder.hooks.length > 0);
        expect(h().recorder.hooks).toEqual([`onError:${done.error!.message}`]);
      });

      test('an Error whose stack, code or data cannot be read keeps its message', async () => {
        for (const kind of ['stack', 'code', 'data']) {
          const run = await h().service.trigger({ definition: 'hard.hostile-error', input: { kind, mode: 'throw' } });
          const done = await h().service.wait(run.id, { timeout: 5000 });
          expect(done.status).toBe('failed');
          expect(done.error?.message).toBe(`readable message, unreadable ${kind}`);
          expect((done.error as unknown as Record<string, unknown>)[kind]).toBeUndefined();
        }
      });

      test('runInline with such a function settles: TaskFailedError', async () => {
        for (const [kind, make] of Object.entries(hostileValues())) {
          const thrown = await h()
            .service.runInline(() => {
              throw make();
            })
            .catch((e: unknown) => e);
          expect(thrown).toBeInstanceOf(TaskFailedError);
          expect((thrown as TaskFailedError).runError?.message.startsWith(UNREADABLE_ERROR)).toBe(true);
          const rejected = await h()
            .service.runInline(() => Promise.reject(make()))
            .catch((e: unknown) => e);
          expect(rejected).toBeInstanceOf(TaskFailedError);
          if (kind === 'Proxy with throwing traps') {
            const returned = await h()
              .service.runInline(() => make())
              .catch((e: unknown) => e);
            expect(returned).toBeInstanceOf(TaskFailedError);
          }
        }
      });
    });

    test('hooks throwing values that cannot be read: onBeforeTrigger refuses with TRIGGER_REFUSED, a throwing onDone changes nothing', async () => {
      const before = (await h().service.listRuns({ definition: 'hard.hooks' })).items.length;
      for (const kind of Object.keys(hostileValues())) {
        const err = await h()
          .service.trigger({ definition: 'hard.hooks', input: { kind } })
          .catch((e: unknown) => e);
        expect({ kind, code: (err as TasklaneError).code }).toEqual({ kind, code: 'TRIGGER_REFUSED' });
        expect((err as Error).message).toMatch(/^Trigger of "hard.hooks" refused by onBeforeTrigger: /);
      }
      expect((await h().service.listRuns({ definition: 'hard.hooks' })).items.length).toBe(before);
      const run = await h().service.trigger({ definition: 'hard.hooks', input: { kind: 'none' } });
      expect(await h().service.result(run.id, { timeout: 5000 })).toBe('ran');
    });

    describe('continue() patches', () => {
      test.each(['getter', 'proxy'])('a patch that throws when read (%s) fails the run with INPUT_INVALID', async (kind) => {
        const run = await h().service.trigger({ definition: 'hard.patch', input: { kind } });
        const done = await h().service.wait(run.id, { timeout: 5000 });
        expect(done.status).toBe('failed');
        expect(done.error?.code).toBe('INPUT_INVALID');
        expect(done.input).toEqual({ kind }); // nothing of the patch was stored
      });

      test('continue({}, { delay }) without an input class changes nothing and is accepted', async () => {
        const run = await h().service.trigger({ definition: 'hard.empty-patch' });
        const done = await h().service.wait(run.id, { timeout: 5000 });
        expect(done).toMatchObject({ status: 'success', output: 'second', iterations: 2 });
        expect(done.input).toBeUndefined();
      });
    });

    describe('controller.log never throws into the task', () => {
      const expectSanitised = async (service: Harness['service'], runId: string) => {
        const logs = (await service.listLogs({ runId })).items;
        const byMessage = new Map(logs.map((l) => [l.message, l.data]));
        expect(byMessage.get('data getter')).toEqual({ ok: 1, bad: expect.stringMatching(/^\[unreadable/) });
        expect(byMessage.get('data toJSON')).toEqual(expect.stringMatching(/^\[unreadable/));
        expect(byMessage.get('data proxy')).toBe('[Proxy]');
        expect(byMessage.get('data cycle')).toEqual({ name: 'loop', self: '[Circular]' });
        expect(byMessage.get('data bigint')).toEqual({ big: '10' });
        expect(byMessage.get('data null-prototype')).toEqual({});
        expect(logs.some((l) => l.type === 'warn' && l.message === '[an instance of Object]')).toBe(true);
      };

      test('with the engine default logger (its JSON format)', async () => {
        await h().stop();
        const lines: string[] = [];
        const logger = streamLogger(lines, defaultLogger());
        const other = await startHarness({ storage: ctx().another(), tasks: HARDENING_TASKS, logger });
        try {
          const run = await other.service.trigger({ definition: 'hard.log' });
          const done = await other.service.wait(run.id, { timeout: 5000 });
          expect(done).toMatchObject({ status: 'success', output: [] });
          await expectSanitised(other.service, run.id);
          await until(() => lines.some((l) => l.includes('data cycle')));
          const cycle = JSON.parse(lines.find((l) => l.includes('data cycle'))!) as { data: unknown };
          expect(cycle.data).toEqual({ name: 'loop', self: '[Circular]' });
        } finally {
          await other.stop();
        }
      });

      test("with a host's winston JSON logger", async () => {
        await h().stop();
        const lines: string[] = [];
        const other = await startHarness({ storage: ctx().another(), tasks: HARDENING_TASKS, logger: streamLogger(lines) });
        try {
          const run = await other.service.trigger({ definition: 'hard.log' });
          const done = await other.service.wait(run.id, { timeout: 5000 });
          expect(done).toMatchObject({ status: 'success', output: [] });
          await expectSanitised(other.service, run.id);
          await until(() => lines.some((l) => l.includes('data bigint')));
          expect(JSON.parse(lines.find((l) => l.includes('data bigint'))!).data).toEqual({ big: '10' });
        } finally {
          await other.stop();
        }
      });
    });

    describe('event listeners cannot change what a caller sees', () => {
      let unhandled: unknown[];
      const onUnhandled = (reason: unknown) => unhandled.push(reason);
      beforeEach(() => {
        unhandled = [];
        process.on('unhandledRejection', onUnhandled);
      });
      afterEach(() => {
        process.off('unhandledRejection', onUnhandled);
      });

      test('listeners throwing or rejecting with unprintable values: trigger() resolves, no unhandled rejection', async () => {
        const seen: string[] = [];
        for (const [kind, make] of Object.entries(hostileValues())) {
          h().service.on('submitted', () => {
            throw make();
          });
          h().service.on('done', () => Promise.reject(make()));
          h().service.on('started', async () => {
            throw make();
          });
          seen.push(kind);
        }
        const run = await h().service.trigger({ definition: NoopTask });
        expect(run.status).toBe('pending');
        expect((await h().service.wait(run.id, { timeout: 5000 })).status).toBe('success');
        await new Promise((r) => setTimeout(r, 100));
        expect(unhandled).toEqual([]);
        expect((await h().service.get(run.id))?.status).toBe('success');
        expect(seen.length).toBeGreaterThan(0);
      });

      test('a listener mutating its event changes neither the caller’s run nor the next listener’s event', async () => {
        const second: TaskRun[] = [];
        const mutate = ({ run }: { run: TaskRun }) => {
          (run as { status: string }).status = 'hacked';
          (run.context as Record<string, unknown>).tenant = 'hacked';
          (run.input as Record<string, unknown>).ms = 999;
        };
        for (const event of ['submitted', 'started', 'done'] as const) {
          h().service.on(event, mutate);
          h().service.on(event, ({ run }) => void second.push(run));
        }
        const run = await runWithContext({ tenant: 't1' }, () => h().service.trigger({ definition: SleepTask, input: { ms: 1 } }));
        expect(run).toMatchObject({ status: 'pending', context: { tenant: 't1' }, input: { ms: 1 } });
        const done = await h().service.wait(run.id, { timeout: 5000 });
        expect(done).toMatchObject({ status: 'success', context: { tenant: 't1' }, input: { ms: 1 } });
        await until(() => second.length === 3);
        for (const r of second) expect(r).toMatchObject({ context: { tenant: 't1' }, input: { ms: 1 } });
        expect(second.map((r) => r.status)).toEqual(['pending', 'running', 'success']);
        expect(run.context).toEqual({ tenant: 't1' });
        expect(await h().service.get(run.id)).toMatchObject({ status: 'success', context: { tenant: 't1' }, input: { ms: 1 } });
      });
    });

    describe('arguments that are not strings are TasklaneErrors', () => {
      test('every TaskService method', async () => {
        const s = h().service;
        const id = (await s.trigger({ definition: NoopTask })).id;
        const throwingId = {
          get id(): string {
            throw new Error('boom');
          },
        };
        const throwingOptions = new Proxy(
          {},
          {
            ownKeys() {
              throw new Error('boom');
            },
            get() {
              throw new Error('boom');
            },
          },
        );
        for (const [label, make] of Object.entries(hostileValues())) {
          const v = make as () => never;
          const cases: Array<[string, () => unknown, string[]]> = [
            ['trigger definition', () => s.trigger({ definition: v() }), ['UNKNOWN_DEFINITION']],
            ['trigger options', () => s.trigger(v()), ['INVALID_ARGUMENT', 'UNKNOWN_DEFINITION']],
            ['trigger delay', () => s.trigger({ definition: 'test.noop', delay: v() }), ['INVALID_ARGUMENT']],
            ['trigger parent', () => s.trigger({ definition: 'test.noop', parent: v() }), ['INVALID_ARGUMENT', 'IDENTIFIER_INVALID']],
            ['trigger after', () => s.trigger({ definition: 'test.noop', after: v() }), ['IDENTIFIER_INVALID']],
            ['trigger name', () => s.trigger({ definition: 'test.noop', name: v() }), ['IDENTIFIER_INVALID']],
            ['trigger key', () => s.trigger({ definition: 'test.noop', key: v() }), ['IDENTIFIER_INVALID']],
            // a null-prototype object is JSON data ({}): a valid context
            ['trigger context', () => s.trigger({ definition: 'test.noop', context: v() }), label === 'null-prototype object' ? ['none'] : ['INPUT_INVALID']],
            ['abort id', () => s.abort({ id: v() }), ['INVALID_ARGUMENT']],
            ['abort message', () => s.abort({ id, message: v() }), ['INVALID_ARGUMENT']],
            ['abort options', () => s.abort(v()), ['INVALID_ARGUMENT']],
            ['get', () => s.get(v()), ['INVALID_ARGUMENT']],
            ['wait', () => s.wait(v()), ['INVALID_ARGUMENT']],
            ['wait timeout', () => s.wait(id, { timeout: v() }), ['INVALID_ARGUMENT']],
            ['result', () => s.result(v()), ['INVALID_ARGUMENT']],
            ['listRuns definition', () => s.listRuns({ definition: v() }), ['INVALID_ARGUMENT']],
            ['listRuns status', () => s.listRuns({ status: v() }), ['INVALID_ARGUMENT']],
            ['listRuns parentId', () => s.listRuns({ parentId: v() }), ['INVALID_ARGUMENT']],
            ['listRuns tenant', () => s.listRuns({ tenant: v() }), ['INVALID_ARGUMENT']],
            ['listRuns cursor', () => s.listRuns({ cursor: v() }), ['INVALID_ARGUMENT']],
            ['listRuns limit', () => s.listRuns({ limit: v() }), ['INVALID_ARGUMENT']],
            ['listLogs runId', () => s.listLogs({ runId: v() }), ['INVALID_ARGUMENT']],
            ['listLogs cursor', () => s.listLogs({ runId: id, cursor: v() }), ['INVALID_ARGUMENT']],
            ['listDefinitions includePrivate', () => s.listDefinitions({ includePrivate: v() }), ['INVALID_ARGUMENT']],
            ['disable', () => s.disable(v()), ['UNKNOWN_DEFINITION']],
            ['enable', () => s.enable(v()), ['UNKNOWN_DEFINITION']],
            ['runInline fn', () => s.runInline(v()), ['INVALID_ARGUMENT']],
            ['on event', () => s.on(v(), () => undefined), ['INVALID_ARGUMENT']],
            ['off event', () => s.off(v(), () => undefined), ['INVALID_ARGUMENT']],
            ['on listener', () => s.on('done', v()), ['INVALID_ARGUMENT']],
          ];
          for (const [name, call, codes] of cases) {
            expectOneOf(`${name}: ${label}`, await codeOf(call), codes);
          }
        }
        // options objects whose reading throws
        for (const [name, call] of [
          ['trigger', () => s.trigger(throwingOptions as never)],
          ['trigger parent.id', () => s.trigger({ definition: 'test.noop', parent: throwingId })],
          ['abort', () => s.abort(throwingOptions as never)],
          ['wait', () => s.wait(id, throwingOptions as never)],
          ['result', () => s.result(id, throwingOptions as never)],
          ['listRuns', () => s.listRuns(throwingOptions as never)],
          ['listLogs', () => s.listLogs(throwingOptions as never)],
          ['listDefinitions', () => s.listDefinitions(throwingOptions as never)],
          ['stop', () => h().engine.stop(throwingOptions as never)],
        ] as Array<[string, () => unknown]>) {
          expect({ name, code: await codeOf(call) }).toEqual({ name, code: name === 'stop' ? 'none' : 'INVALID_ARGUMENT' });
        }
        await h().engine.start();
        expect((await s.wait(id, { timeout: 5000 })).status).toBe('success');
      });

      test("the controller's methods", async () => {
        const run = await h().service.trigger({ definition: 'hard.controller-args' });
        const codes = await h().service.result<Record<string, string>>(run.id, { timeout: 10_000 });
        for (const [name, code] of Object.entries(codes)) {
          // a progress report without readable fields reports nothing (fields of the wrong type are ignored)
          const allowed =
            name.startsWith('progress ') && name !== 'progress getter'
              ? ['INVALID_ARGUMENT', 'no error']
              : ['INVALID_ARGUMENT', 'UNKNOWN_DEFINITION', 'IDENTIFIER_INVALID'];
          expectOneOf(name, code, allowed);
        }
        expect(codes['progress getter']).toBe('INVALID_ARGUMENT');
        expect(codes['store.set NUL key']).toBe('INVALID_ARGUMENT');
        expect(codes['store.get NUL key']).toBe('INVALID_ARGUMENT');
        expect(codes['sleep Infinity']).toBe('INVALID_ARGUMENT');
        expect(codes['sleep 1e20']).toBe('INVALID_ARGUMENT');
        expect(codes['trigger definition null-prototype object']).toBe('UNKNOWN_DEFINITION');
      });
    });

    test('NUL characters anywhere a caller string reaches storage: empty pages, null, typed errors', async () => {
      const s = h().service;
      const NUL = 'a\u0000b';
      const run = await s.trigger({ definition: 'conf.inspect', input: { name: `x${NUL}` } });
      expect(await s.result(run.id, { timeout: 5000 })).toBe(`hello x${NUL}`); // inside JSON data, NUL is data
      expect(await s.listRuns({ definition: NUL })).toEqual({ items: [] });
      expect(await s.listRuns({ parentId: NUL })).toEqual({ items: [] });
      expect(await s.listRuns({ tenant: NUL })).toEqual({ items: [] });
      expect(await s.listRuns({ definition: 'conf.inspect', parentId: NUL, status: 'success' })).toEqual({ items: [] });
      expect(await s.listLogs({ runId: NUL })).toEqual({ items: [] });
      expect(await s.get(NUL)).toBeNull();
      const codes: Array<[string, () => unknown, string]> = [
        ['listRuns status', () => s.listRuns({ status: NUL as never }), 'INVALID_ARGUMENT'],
        ['listRuns cursor', () => s.listRuns({ cursor: NUL }), 'INVALID_ARGUMENT'],
        ['listLogs cursor', () => s.listLogs({ runId: run.id, cursor: NUL }), 'INVALID_ARGUMENT'],
        ['abort', () => s.abort({ id: NUL }), 'TASK_NOT_FOUND'],
        ['abort message', () => s.abort({ id: run.id, message: NUL }), 'none'],
        ['wait', () => s.wait(NUL), 'TASK_NOT_FOUND'],
        ['result', () => s.result(NUL), 'TASK_NOT_FOUND'],
        ['trigger definition', () => s.trigger({ definition: NUL }), 'UNKNOWN_DEFINITION'],
        ['trigger key', () => s.trigger({ definition: NoopTask, key: NUL }), 'IDENTIFIER_INVALID'],
        ['trigger name', () => s.trigger({ definition: NoopTask, name: NUL }), 'IDENTIFIER_INVALID'],
        ['trigger parent', () => s.trigger({ definition: NoopTask, parent: NUL }), 'IDENTIFIER_INVALID'],
        ['trigger after', () => s.trigger({ definition: NoopTask, after: NUL }), 'IDENTIFIER_INVALID'],
        ['disable', () => s.disable(NUL), 'UNKNOWN_DEFINITION'],
        ['enable', () => s.enable(NUL), 'UNKNOWN_DEFINITION'],
      ];
      for (const [name, call, code] of codes) expect({ name, code: await codeOf(call) }).toEqual({ name, code });
      // a page cursor and a log cursor from the engine still work
      const page = await s.listRuns({ limit: 1 });
      if (page.cursor) expect(Array.isArray((await s.listRuns({ limit: 1, cursor: page.cursor })).items)).toBe(true);
    });

    describe('runInline and contexts get the checks trigger() applies', () => {
      const badContexts = (): Record<string, [unknown, string]> => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        return {
          function: [{ f: () => 1 }, 'INPUT_INVALID'],
          cycle: [cyclic, 'INPUT_INVALID'],
          bigint: [{ n: 1n }, 'INPUT_INVALID'],
          '__proto__ key': [JSON.parse('{"__proto__": {"polluted": 1}}'), 'INPUT_INVALID'],
          Date: [{ at: new Date() }, 'INPUT_INVALID'],
          '2 MiB': [{ big: 'x'.repeat(2 * 1024 * 1024) }, 'INPUT_TOO_LARGE'],
          'not an object': ['tenant-1', 'INPUT_INVALID'],
        };
      };

      test('a bad context is refused by trigger() and runInline() alike, and nothing is stored', async () => {
        const before = (await h().service.listRuns({ limit: 1000 })).items.length;
        for (const [label, [context, code]] of Object.entries(badContexts())) {
          const viaTrigger = await runWithContext(context as Record<string, unknown>, () => h().service.trigger({ definition: NoopTask })).catch(
            (e: unknown) => e,
          );
          expect({ label, err: viaTrigger instanceof TaskValidationError, code: (viaTrigger as TasklaneError).code }).toEqual({ label, err: true, code });
          const explicit = await h()
            .service.trigger({ definition: NoopTask, context: context as Record<string, unknown> })
            .catch((e: unknown) => e);
          expect({ label, code: (explicit as TasklaneError).code }).toEqual({ label, code });
          const inline = await runWithContext(context as Record<string, unknown>, () => h().service.runInline(() => 'ran')).catch((e: unknown) => e);
          expect({ label, err: inline instanceof TaskValidationError, code: (inline as TasklaneError).code }).toEqual({ label, err: true, code });
        }
        expect((await h().service.listRuns({ limit: 1000 })).items.length).toBe(before);
      });

      test('runInline input is checked as trigger input is', async () => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        for (const input of [cyclic, { f: () => 1 }, { n: 1n }, JSON.parse('{"__proto__": 1}'), { at: new Date() }]) {
          await expect(h().service.runInline(() => 'ran', input)).rejects.toBeInstanceOf(TaskValidationError);
        }
      });

      test("one caller's bad value never fails another caller's trigger batched with it", async () => {
        const cyclic: Record<string, unknown> = {};
        cyclic.self = cyclic;
        const named = { ['nul\u0000name']: () => 'inline ok' }['nul\u0000name'];
        // all in one tick: they share one grouped insert
        const results = await Promise.allSettled([
          runWithContext(cyclic, () => h().service.runInline(() => 'never')),
          h().service.trigger({ definition: NoopTask }),
          runWithContext({ f: () => 1 } as unknown as Record<string, unknown>, () => h().service.trigger({ definition: NoopTask })),
          h().service.runInline(named),
          h().service.trigger({ definition: NoopTask }),
        ]);
        expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
        expect((results[3] as PromiseFulfilledResult<string>).value).toBe('inline ok');
        for (const i of [1, 4])
          expect((await h().service.wait((results[i] as PromiseFulfilledResult<TaskRun>).value.id, { timeout: 5000 })).status).toBe('success');
      });

      test('a record the store refuses fails alone: the others of its batch are stored', async () => {
        await h().stop();
        const base = ctx().another();
        // the store refuses any batch holding a run named "poison" (a refusal of the data, as
        // PostgreSQL's refusal of an unstorable text would be)
        const refusing = new Proxy(base, {
          get(target, key, receiver) {
            if (key === 'insertRuns') {
              return async (runs: Array<{ name: string }>) => {
                if (runs.some((r) => r.name === 'poison')) throw new InvalidArgumentError('this store refuses poison');
                return target.insertRuns(runs as never);
              };
            }
            const value = Reflect.get(target, key, receiver) as unknown;
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
        const other = await startHarness({ storage: refusing, tasks: [NoopTask] });
        try {
          const results = await Promise.allSettled([
            other.service.trigger({ definition: NoopTask, name: 'a' }),
            other.service.trigger({ definition: NoopTask, name: 'poison' }),
            other.service.trigger({ definition: NoopTask, name: 'b' }),
          ]);
          expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
          expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(InvalidArgumentError);
          for (const i of [0, 2])
            expect((await other.service.wait((results[i] as PromiseFulfilledResult<TaskRun>).value.id, { timeout: 5000 })).status).toBe('success');
          expect((await other.service.listRuns({ definition: 'test.noop' })).items.map((r) => r.name).sort()).toEqual(['a', 'b']);
        } finally {
          await other.stop();
        }
      });
    });

    describe('durations (API.md section 5: limits on times)', () => {
      const bad = [Infinity, -Infinity, NaN, -1, MAX_DURATION_MS + 1, 1e20, 2 ** 53, '5', null, {}];

      test('trigger delay, wait/result timeout, stop timeout: out of range is INVALID_ARGUMENT', async () => {
        const run = await h().service.trigger({ definition: NoopTask });
        for (const value of bad) {
          expect(await codeOf(() => h().service.trigger({ definition: NoopTask, delay: value as number }))).toBe('INVALID_ARGUMENT');
          expect(await codeOf(() => h().service.wait(run.id, { timeout: value as number }))).toBe('INVALID_ARGUMENT');
          expect(await codeOf(() => h().service.result(run.id, { timeout: value as number }))).toBe('INVALID_ARGUMENT');
          expect(await codeOf(() => h().engine.stop({ timeout: value as number }))).toBe('INVALID_ARGUMENT');
        }
        expect(h().engine.status).toBe('started');
        const far = await h().service.trigger({ definition: NoopTask, delay: MAX_DURATION_MS });
        expect(Date.parse(far.runAt!) - Date.parse(far.createdOn)).toBe(MAX_DURATION_MS);
        expect((await h().service.get(far.id))?.runAt).toBe(far.runAt);
        await h().service.abort({ id: far.id });
        await h().service.wait(run.id, { timeout: 5000 });
      });

      test.each(['huge', 'infinite', 'negative', 'nan', 'text'])(
        'continue() with a %s delay fails the run with INVALID_ARGUMENT; reads keep working',
        async (delay) => {
          const run = await h().service.trigger({ definition: 'hard.continue-delay', input: { delay } });
          const done = await h().service.wait(run.id, { timeout: 5000 });
          expect(done.status).toBe('failed');
          expect(done.error?.code).toBe('INVALID_ARGUMENT');
          expect(done.runAt).toBeUndefined();
          expect((await h().service.get(run.id))?.status).toBe('failed');
          expect((await h().service.listRuns({ definition: 'hard.continue-delay' })).items.map((r) => r.id)).toContain(run.id);
          expect((await h().service.abort({ id: run.id })).status).toBe('failed');
        },
      );

      test('a wait() or result() timeout of 2^31 ms or more really waits', async () => {
        const run = await h().service.trigger({ definition: SleepTask, input: { ms: 300 } });
        const [waited, result] = await Promise.all([h().service.wait(run.id, { timeout: 2 ** 31 }), h().service.result(run.id, { timeout: 2 ** 33 })]);
        expect(waited.status).toBe('success');
        expect(result).toBe('slept');
      });

      test('sleep() of 2^31 ms or more does not return early', async () => {
        const run = await h().service.trigger({ definition: 'hard.long-sleep' });
        await until(async () => (await h().service.get(run.id))?.status === 'running');
        await new Promise((r) => setTimeout(r, 300));
        expect((await h().service.get(run.id))?.status).toBe('running');
        await h().service.abort({ id: run.id });
        expect((await h().service.wait(run.id, { timeout: 5000 })).status).toBe('aborted');
      });

      test('a stopped engine never reopens its storage: a write retried after stop() gives up', async () => {
        await h().stop();
        const base = ctx().another();
        let inits = 0;
        let failUpdates = true;
        const counting = new Proxy(base, {
          get(target, key, receiver) {
            if (key === 'init') {
              return () => {
                inits++;
                return target.init();
              };
            }
            if (key === 'updateIterations') {
              return (updates: never) => (failUpdates ? Promise.reject(new Error('store unreachable')) : target.updateIterations(updates));
            }
            const value = Reflect.get(target, key, receiver) as unknown;
            return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
          },
        });
        const other = await startHarness({ storage: counting, tasks: [NoopTask] });
        const run = await other.service.trigger({ definition: NoopTask });
        // its outcome's write fails and is retried on a timer
        await until(async () => (await other.service.get(run.id))?.status === 'running');
        const waiting = other.service.wait(run.id).catch((e: unknown) => e);
        await new Promise((r) => setTimeout(r, 150));
        const initsBeforeStop = inits;
        await other.stop();
        failUpdates = false;
        // past every retry delay and the waiter sweep: nothing may open the storage again
        await new Promise((r) => setTimeout(r, 2500));
        expect(inits).toBe(initsBeforeStop);
        // a caller may open it again; the run, never recorded, is taken up at its lease expiry
        expect((await other.service.get(run.id))?.status).toBe('running');
        expect(inits).toBe(initsBeforeStop + 1);
        await other.engine.stop();
        void waiting;
      });
    });

    test('progress reports merge: info keeps current and total, null clears; events and storage carry the merged value', async () => {
      const events: unknown[] = [];
      h().service.on('progress', ({ progress }) => void events.push(progress));
      const run = await h().service.trigger({ definition: 'hard.progress' });
      const done = await h().service.wait(run.id, { timeout: 5000 });
      expect(done.status).toBe('success');
      expect(events).toEqual([
        { info: 'starting', current: 1, total: 4 },
        { info: 'half way', current: 1, total: 4 },
        { info: 'half way', current: 3, total: 4 },
        { info: 'Task completed', current: 3 },
      ]);
      expect(done.progress).toEqual({ info: 'Task completed', current: 3 });
      expect((await h().service.get(run.id))?.progress).toEqual({ info: 'Task completed', current: 3 });
    });

    test('queuePeak follows triggers and claims without stats() being called between', async () => {
      await h().service.disable('test.noop');
      const runs = await Promise.all([1, 2, 3].map(() => h().service.trigger({ definition: NoopTask })));
      await h().service.enable('test.noop');
      for (const r of runs) await h().service.wait(r.id, { timeout: 5000 });
      const row = (await h().service.stats()).find((s) => s.definitionId === 'test.noop')!;
      expect(row).toMatchObject({ queueSize: 0, queuePeak: 3 });
    });
  });
}
