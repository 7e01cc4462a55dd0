/**
 * The maxBacklog count on its own, against a real memory store: what the engine reports to it
 * (runs handed to storage, runs not stored, runs leaving or coming back to pending) keeps the
 * count exact, and it reads the store only when it must, sharing one read between triggers.
 */
import { createLogger, transports } from 'winston';
import { memoryStorage, QueueFullError, type RunStorage } from '../../src';
import { BacklogLimiter, BACKLOG_READ_GAP_MS } from '../../src/core/trigger/backlog-limiter';
import type { RunRecord } from '../../src/ports/run-record';
import { makeRun } from '../helpers/make-run';

const DEF = 'unit.backlog';
const logger = createLogger({ silent: true, transports: [new transports.Console()] });

interface Setup {
  storage: RunStorage;
  limiter: BacklogLimiter;
  reads: () => number;
  /** the engine's grouped insert, as Runtime does it */
  insert(runs: RunRecord[]): Promise<void>;
}

async function setup(): Promise<Setup> {
  const storage = memoryStorage();
  await storage.init();
  let reads = 0;
  const limiter = new BacklogLimiter(
    {
      ready: () => undefined,
      countPending: () => {
        reads++;
        return storage.countPending();
      },
    },
    logger,
  );
  return {
    storage,
    limiter,
    reads: () => reads,
    async insert(runs) {
      limiter.sending(runs);
      limiter.answered(runs, await storage.insertRuns(runs));
    },
  };
}

async function settle<T>(promises: Array<Promise<T>>): Promise<{ admitted: number; full: number }> {
  const results = await Promise.allSettled(promises);
  let admitted = 0;
  let full = 0;
  for (const r of results) {
    if (r.status === 'fulfilled') admitted++;
    else if (r.reason instanceof QueueFullError) full++;
    else throw r.reason;
  }
  return { admitted, full };
}

describe('BacklogLimiter', () => {
  test('the first triggers share one read and are admitted one by one up to the limit', async () => {
    const s = await setup();
    await s.storage.insertRuns([makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF })]);
    const gate = s.limiter.gate(DEF, 10);
    expect(s.limiter.tryAdmit(gate)).toBe('unsure'); // never read: nothing is decided on nothing
    expect(await settle(Array.from({ length: 30 }, () => s.limiter.admit(gate)))).toEqual({ admitted: 8, full: 22 });
    expect(s.reads()).toBe(1);
    expect(gate.count).toBe(10);
    // known and full, nothing left pending since: refused at once, without a read
    expect(s.limiter.tryAdmit(gate)).toBe('full');
    expect(s.reads()).toBe(1);
  });

  test('runs handed to storage before and after a read are each counted once', async () => {
    const s = await setup();
    const gate = s.limiter.gate(DEF, 5);
    await s.limiter.admit(gate);
    await s.limiter.admit(gate);
    const first = [makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF })];
    await s.insert(first); // sent, then stored
    expect(gate.count).toBe(2);
    gate.mayBeHigh = true; // as if a run had left: the next refusal must read the store
    for (let i = 0; i < 3; i++) await s.limiter.admit(gate);
    expect(gate.count).toBe(5);
    expect(s.limiter.tryAdmit(gate)).toBe('unsure');
    await expect(s.limiter.admit(gate)).rejects.toBeInstanceOf(QueueFullError); // the read saw 2 stored + 3 admitted
    expect(gate.count).toBe(5);
    await s.insert([makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF })]);
    expect(gate.count).toBe(5);
    expect((await s.storage.countPending()).get(DEF)).toBe(5);
  });

  test('a run whose key matched a stored run is uncounted once its insert answers', async () => {
    const s = await setup();
    const gate = s.limiter.gate(DEF, 3);
    await s.storage.insertRuns([makeRun({ definitionId: DEF, key: 'k' })]);
    await s.limiter.admit(gate);
    await s.limiter.admit(gate);
    expect(gate.count).toBe(3);
    await s.insert([makeRun({ definitionId: DEF, key: 'k' }), makeRun({ definitionId: DEF })]); // the first is not stored
    expect(gate.count).toBe(2);
    expect((await s.storage.countPending()).get(DEF)).toBe(2);
    expect(s.limiter.tryAdmit(gate)).toBe('admitted');
  });

  test('a run in flight when the store is read is never missed; counted twice, it makes refusals read again', async () => {
    const s = await setup();
    const gate = s.limiter.gate(DEF, 2);
    await s.limiter.admit(gate);
    const late = [makeRun({ definitionId: DEF })];
    s.limiter.sending(late); // the admitted run is handed to storage, its insert not yet applied (a slow store)
    gate.known = false; // make the next trigger read
    await s.limiter.admit(gate); // the read sees nothing stored; the run in flight still counts
    expect(gate.count).toBe(2);
    await expect(s.limiter.admit(gate)).rejects.toBeInstanceOf(QueueFullError);
    s.limiter.answered(late, await s.storage.insertRuns(late));
    expect(gate.count).toBe(2);

    // the second admitted run is applied before a read's snapshot but answered after it: counted twice
    const early = [makeRun({ definitionId: DEF })];
    s.limiter.sending(early);
    const results = await s.storage.insertRuns(early);
    gate.known = false;
    await expect(s.limiter.admit(gate)).rejects.toBeInstanceOf(QueueFullError);
    s.limiter.answered(early, results);
    expect(gate.count).toBe(3); // 2 stored, one of them twice...
    expect(gate.mayBeHigh).toBe(true); // ...which the gate knows
    const reads = s.reads();
    await expect(s.limiter.admit(gate)).rejects.toBeInstanceOf(QueueFullError);
    expect(s.reads()).toBe(reads + 1); // the refusal read the store first
    expect(gate.count).toBe(2);
    expect((await s.storage.countPending()).get(DEF)).toBe(2);
  });

  test('runs coming back to pending: nothing is admitted until a read made after they are back', async () => {
    const s = await setup();
    const gate = s.limiter.gate(DEF, 2);
    await s.limiter.admit(gate);
    await s.insert([makeRun({ definitionId: DEF })]);
    s.limiter.returning();
    expect(s.limiter.tryAdmit(gate)).toBe('unsure');
    const waiting = s.limiter.admit(gate).then(
      () => 'admitted',
      (e: unknown) => (e instanceof QueueFullError ? 'full' : 'error'),
    );
    await new Promise((r) => setTimeout(r, 3 * BACKLOG_READ_GAP_MS)); // reads during the release are not trusted
    await s.storage.insertRuns([makeRun({ definitionId: DEF })]); // the released run, pending again
    s.limiter.returned();
    expect(await waiting).toBe('full');
    expect(gate.count).toBe(2);
  });

  test('a flood at a full backlog whose runs keep leaving costs one read per interval, not one per trigger', async () => {
    const s = await setup();
    const gate = s.limiter.gate(DEF, 100);
    await settle(Array.from({ length: 100 }, () => s.limiter.admit(gate)));
    await s.insert(Array.from({ length: 100 }, () => makeRun({ definitionId: DEF })));
    const t0 = performance.now();
    const before = s.reads();
    let outcome = { admitted: 0, full: 0 };
    while (performance.now() - t0 < 200) {
      gate.mayBeHigh = true; // a claim somewhere: the count may be high
      const wave = await settle(Array.from({ length: 200 }, () => s.limiter.admit(gate)));
      outcome = { admitted: outcome.admitted + wave.admitted, full: outcome.full + wave.full };
    }
    const elapsed = performance.now() - t0;
    expect(outcome.admitted).toBe(0); // nothing left in truth: every trigger refused
    expect(outcome.full).toBeGreaterThan(200);
    expect(s.reads() - before).toBeLessThanOrEqual(Math.ceil(elapsed / BACKLOG_READ_GAP_MS) + 1);
  });

  test('a failed read rejects the triggers waiting for it with its error; the next trigger reads again', async () => {
    const storage = memoryStorage();
    await storage.init();
    let fail = true;
    const limiter = new BacklogLimiter(
      {
        ready: () => undefined,
        countPending: () => (fail ? Promise.reject(new Error('store down')) : storage.countPending()),
      },
      logger,
    );
    const gate = limiter.gate(DEF, 1);
    await expect(limiter.admit(gate)).rejects.toThrow('store down');
    fail = false;
    await expect(limiter.admit(gate)).resolves.toBeUndefined();
    await expect(limiter.admit(gate)).rejects.toBeInstanceOf(QueueFullError);
  });
});
