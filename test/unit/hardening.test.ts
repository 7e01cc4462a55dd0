import 'reflect-metadata';
import { Container } from 'inversify';
import { Writable } from 'node:stream';
import { createLogger, transports } from 'winston';
import { Task, InvalidArgumentError, registerTasks, tasklane, type TaskDefinition, type TaskRunParams } from '../../src';
import { Batcher, ItemFailure } from '../../src/core/runtime/batcher';
import { coerceError, UNREADABLE_ERROR } from '../../src/core/coerce-error';
import { EventBus } from '../../src/core/observation/event-bus';
import { logData, MAX_LOG_DATA_CHARS } from '../../src/core/runtime/log-data';
import { toPublicRun } from '../../src/core/public-run';
import { StatsTracker } from '../../src/core/observation/stats-tracker';
import { checkDuration, LongTimeout, MAX_DURATION_MS, MAX_TIMER_MS, parseDuration } from '../../src/util/duration';
import { describeKind, errorFields, errorMessage, safeString } from '../../src/util/safe-string';
import { makeRun } from '../helpers/make-run';

/** Issue 8, the pure logic: unreadable values, durations, log data, events, batches, counts. */

const boom = () => {
  throw new Error('boom');
};
const hostile = {
  nullProto: () => Object.create(null) as object,
  toStringThrows: () => ({ toString: boom }),
  toPrimitiveThrows: () => ({ [Symbol.toPrimitive]: boom }),
  proxy: () => new Proxy({}, { get: boom, getPrototypeOf: boom, ownKeys: boom, has: boom, getOwnPropertyDescriptor: boom }),
  revoked: () => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  },
};

describe('safeString / errorMessage / describeKind never throw', () => {
  test.each(Object.entries(hostile))('%s', (_name, make) => {
    const v = make();
    expect(typeof safeString(v)).toBe('string');
    expect(typeof errorMessage(v)).toBe('string');
    expect(typeof describeKind(v)).toBe('string');
    expect(errorFields(v)).toEqual({ error: expect.any(String) });
  });

  it('describes without running the value: Proxies are never converted', () => {
    const traps: string[] = [];
    const spy = new Proxy({}, { get: (_t, k) => (traps.push(String(k)), undefined) });
    expect(safeString(spy)).toBe('[a Proxy]');
    expect(describeKind(spy)).toBe('a Proxy');
    expect(traps).toEqual([]);
    expect(safeString(Object.create(null))).toBe('[a null-prototype object]');
    expect(safeString(function named() {})).toBe('[function named]'); // never its source
  });

  it('keeps readable values as they are, truncated', () => {
    expect(safeString('x'.repeat(20), 5)).toBe('xxxxx...');
    expect(safeString(42)).toBe('42');
    expect(errorMessage(new Error('plain'))).toBe('plain');
    const withCause = new Error('outer', { cause: new Error('inner') });
    expect(errorFields(withCause)).toEqual({ error: 'outer', cause: 'inner' });
  });
});

describe('coerceError', () => {
  test.each(Object.entries(hostile))('%s gives a placeholder message, never throws', (_name, make) => {
    const e = coerceError(make());
    expect(e.message.startsWith(UNREADABLE_ERROR)).toBe(true);
  });

  it('an Error whose message getter throws: placeholder; readable fields of other Errors are kept', () => {
    const e = new Error('x') as Error & { code?: string; data?: unknown };
    Object.defineProperty(e, 'message', { get: boom });
    expect(coerceError(e).message).toMatch(/^The error could not be read \(an instance of Error: reading its message threw\)$/);
    const partly = new Error('fine') as Error & { code?: string };
    partly.code = 'E_FINE';
    Object.defineProperty(partly, 'data', { get: boom });
    Object.defineProperty(partly, 'stack', { get: boom });
    expect(coerceError(partly)).toEqual({ message: 'fine', code: 'E_FINE' });
  });

  it('keeps the usual shapes', () => {
    expect(coerceError({ message: 'm', code: 7, data: { a: 1 } })).toEqual({ message: 'm', code: '7', data: { a: 1 } });
    expect(coerceError('text')).toEqual({ message: 'text' });
    expect(coerceError(undefined)).toEqual({ message: 'undefined' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(coerceError({ message: 'm', data: cyclic })).toEqual({ message: 'm' });
  });
});

describe('durations', () => {
  it('checkDuration: finite numbers from min to 10 years, else INVALID_ARGUMENT naming the argument', () => {
    expect(checkDuration(0, 'd')).toBe(0);
    expect(checkDuration(MAX_DURATION_MS, 'd')).toBe(MAX_DURATION_MS);
    for (const bad of [Infinity, -Infinity, NaN, -1, MAX_DURATION_MS + 1, '5', null, {}, Object.create(null), 10n]) {
      expect(() => checkDuration(bad, 'wait(): timeout')).toThrow(InvalidArgumentError);
    }
    expect(() => checkDuration(0, 'pollMs', 1)).toThrow(/pollMs must be a finite number of ms from 1/);
    expect(() => parseDuration(Object.create(null), 'schedule.backfill', 1000)).toThrow(InvalidArgumentError);
    expect(() => parseDuration('25h', 'schedule.backfill', 24 * 3_600_000)).toThrow(/at most/);
  });

  it('LongTimeout waits longer than a Node timer holds, re-arming one timer', () => {
    jest.useFakeTimers();
    try {
      let fired = 0;
      new LongTimeout(() => fired++, 3 * MAX_TIMER_MS + 10);
      jest.advanceTimersByTime(MAX_TIMER_MS);
      jest.advanceTimersByTime(MAX_TIMER_MS);
      jest.advanceTimersByTime(MAX_TIMER_MS);
      expect(fired).toBe(0);
      expect(jest.getTimerCount()).toBe(1);
      jest.advanceTimersByTime(10);
      expect(fired).toBe(1);
      expect(jest.getTimerCount()).toBe(0);
      const cleared = new LongTimeout(() => fired++, 2 * MAX_TIMER_MS);
      jest.advanceTimersByTime(MAX_TIMER_MS + 1);
      cleared.clear();
      jest.advanceTimersByTime(2 * MAX_TIMER_MS);
      expect(fired).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('engine and definition duration options are checked', async () => {
    for (const [name, bad] of [
      ['pollMs', Infinity],
      ['leaseMs', 1e20],
      ['timeoutGraceMs', NaN],
      ['catchUpGraceMs', -1],
      ['pollMs', 0],
    ] as const) {
      expect(() => tasklane({ [name]: bad })).toThrow(InvalidArgumentError);
    }
    expect(() => tasklane({ pollMs: MAX_DURATION_MS })).not.toThrow();
    const container = new Container();
    await container.load(tasklane());
    const faults = [Infinity, 1e20, 0, '1m'].map((bad, i) => {
      @Task({ id: `durations.bad-${i}`, title: 'Bad timeout', iterationTimeout: bad as number })
      class Bad implements TaskDefinition<undefined, void> {
        run({ controller }: TaskRunParams<undefined, void>) {
          return controller.response.done();
        }
      }
      return registerTasks(container, [Bad])[0]!.fault?.code;
    });
    expect(faults).toEqual(['DEFINITION_INVALID', 'DEFINITION_INVALID', 'DEFINITION_INVALID', 'DEFINITION_INVALID']);
  });

  it('toPublicRun leaves out a due time a Date cannot hold instead of throwing RangeError', () => {
    const run = makeRun({ status: 'running', dueAt: 1e20 });
    expect(() => toPublicRun(run)).not.toThrow();
    expect(toPublicRun(run).runAt).toBeUndefined();
    const soon = makeRun({ status: 'pending', dueAt: Date.now() + 60_000 });
    expect(toPublicRun(soon).runAt).toBe(new Date(soon.dueAt).toISOString());
  });
});

describe('log data', () => {
  it('is a JSON-safe copy, whatever it holds', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(logData({ big: 10n, nested: { n: 1n } })).toEqual({ big: '10', nested: { n: '1' } });
    expect(logData(cyclic)).toEqual({ a: 1, self: '[Circular]' });
    expect(logData({ toJSON: boom })).toBe('[unreadable: boom]');
    expect(
      logData({
        ok: true,
        get bad(): number {
          return boom();
        },
      }),
    ).toEqual({ ok: true, bad: '[unreadable: boom]' });
    expect(logData(hostile.proxy())).toBe('[Proxy]');
    expect(logData(hostile.revoked())).toBe('[Proxy]');
    expect(logData({ when: new Date(0) })).toEqual({ when: '1970-01-01T00:00:00.000Z' });
    const protoKey = JSON.parse('{"__proto__": {"x": 1}, "k": 1}') as object;
    expect(logData({ protoKey, big: 1n })).toEqual({ protoKey: JSON.parse('{"__proto__": {"x": 1}, "k": 1}'), big: '1' }); // a key, never a prototype
    expect(logData({ s: 'x'.repeat(MAX_LOG_DATA_CHARS) })).toMatch(/omitted/);
    expect(logData(undefined)).toBeUndefined();
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });
});

describe('EventBus', () => {
  it('never throws, whatever a listener or the logger does; listeners get one frozen copy', async () => {
    const lines: string[] = [];
    const logger = createLogger({
      transports: [
        new transports.Stream({
          stream: new Writable({
            write(chunk: Buffer, _e, done) {
              lines.push(String(chunk));
              done();
            },
          }),
        }),
      ],
    });
    const bus = new EventBus(logger);
    const run = toPublicRun(makeRun({ context: { tenant: 't1' } }));
    const seen: unknown[] = [];
    bus.on('submitted', () => {
      throw hostile.nullProto();
    });
    bus.on('submitted', () => Promise.reject(hostile.proxy()));
    bus.on('submitted', (e) => {
      (e.run.context as Record<string, unknown>).tenant = 'changed';
    });
    bus.on('submitted', (e) => void seen.push(e.run.context));
    expect(() => bus.emit('submitted', { run })).not.toThrow();
    await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([{ tenant: 't1' }]);
    expect(run.context).toEqual({ tenant: 't1' }); // the caller's object is not the listeners'
    expect(lines.filter((l) => l.includes('listener threw'))).toHaveLength(3);

    const throwing = createLogger({ transports: [new transports.Stream({ stream: new Writable({ write: (_c, _e, done) => done() }) })] });
    throwing.error = boom as never;
    const quiet = new EventBus(throwing);
    quiet.on('done', boom);
    expect(() => quiet.emit('done', { run })).not.toThrow();
  });

  it('refuses unknown event names and listeners that are not functions with INVALID_ARGUMENT', () => {
    const bus = new EventBus(createLogger({ silent: true }));
    expect(() => bus.on('bogus' as never, () => undefined)).toThrow(InvalidArgumentError);
    expect(() => bus.on(hostile.nullProto() as never, () => undefined)).toThrow(InvalidArgumentError);
    expect(() => bus.on('done', 42 as never)).toThrow(InvalidArgumentError);
    expect(() => bus.off(hostile.proxy() as never, () => undefined)).toThrow(InvalidArgumentError);
  });
});

describe('Batcher', () => {
  it('an ItemFailure rejects its own item alone', async () => {
    const batcher = new Batcher<number, number>(async (items) => items.map((i) => (i === 2 ? new ItemFailure(new Error(`item ${i}`)) : i * 10)));
    const results = await Promise.allSettled([1, 2, 3].map((i) => batcher.add(i)));
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([10, 'item 2', 30]);
  });
});

describe('StatsTracker pending counts (queuePeak)', () => {
  it('follows triggers and claims without a read, and starts again from the store at stats()', () => {
    const stats = new StatsTracker();
    stats.pendingAdded('d');
    stats.pendingAdded('d');
    stats.pendingAdded('d');
    stats.pendingLeft('d');
    stats.pendingAdded('d');
    expect(stats.row('d', 'pending', 3)).toMatchObject({ queueSize: 3, queuePeak: 3 });
    stats.pendingLeft('d', 10); // never below zero
    stats.pendingAdded('d');
    expect(stats.row('d', 'idle', 0)).toMatchObject({ queuePeak: 3 });
    // the store saw more (other nodes): the peak follows it, and the count starts from it
    expect(stats.row('d', 'pending', 5).queuePeak).toBe(5);
    stats.pendingAdded('d');
    expect(stats.row('d', 'pending', 6).queuePeak).toBe(6);
  });
});
