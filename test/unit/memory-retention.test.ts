import { InvalidArgumentError } from '../../src/api/errors';
import { MemoryStorage, memoryStorage } from '../../src/adapters/memory/memory-storage';
import { makeRun } from '../helpers/make-run';

/** claims and completes every pending run of `definitionId`, oldest first */
async function finishAll(storage: MemoryStorage, definitionId: string, n: number): Promise<string[]> {
  const claimed = await storage.claimRuns({ nodeId: 'n', now: Date.now(), leaseMs: 30_000, limit: n, slots: [{ definitionId, max: n }] });
  const results = await storage.updateIterations(
    claimed.map((r) => ({ id: r.id, leaseToken: r.leaseToken!, status: 'success' as const, output: { id: r.id } })),
  );
  expect(results.every((r) => r.ok)).toBe(true);
  return claimed.map((r) => r.id);
}

describe('memory storage: retention of finished runs', () => {
  it('keeps the newest maxFinishedRuns finished runs, with their logs and values, and forgets the older ones with theirs', async () => {
    const storage = memoryStorage({ maxFinishedRuns: 3 });
    const runs = Array.from({ length: 5 }, () => makeRun({ definitionId: 'ret.a' }));
    await storage.insertRuns(runs);
    for (const run of runs) {
      await storage.appendLogs([{ runId: run.id, type: 'info', message: `log of ${run.id}`, createdOn: new Date().toISOString() }], 10);
      await storage.setValue(run.id, 'k', run.id);
    }
    const order = await finishAll(storage, 'ret.a', 5);
    expect(order).toEqual(runs.map((r) => r.id));

    const [gone1, gone2, ...kept] = order;
    expect(await storage.getRun(gone1)).toBeNull();
    expect(await storage.getRun(gone2)).toBeNull();
    expect((await storage.listLogs({ runId: gone1 })).items).toEqual([]);
    expect(await storage.getValue(gone1, 'k')).toBeUndefined();
    for (const id of kept) {
      expect((await storage.getRun(id))?.status).toBe('success');
      expect((await storage.listLogs({ runId: id })).items.map((l) => l.message)).toEqual([`log of ${id}`]);
      expect(await storage.getValue(id, 'k')).toBe(id);
    }
    expect((await storage.listRuns({})).items.map((r) => r.id)).toEqual([...kept].reverse());
    expect((await storage.listRuns({ definition: 'ret.a' })).items.map((r) => r.id)).toEqual([...kept].reverse());
    expect(await storage.getEndedRuns([gone1, kept[0]])).toEqual({ ended: [expect.objectContaining({ id: kept[0] })], missing: [gone1] });
  });

  it('never forgets an unfinished run, however many runs finish', async () => {
    const storage = memoryStorage({ maxFinishedRuns: 2 });
    const waiting = makeRun({ definitionId: 'ret.waiting' });
    const running = makeRun({ definitionId: 'ret.running' });
    await storage.insertRuns([waiting, running]);
    const [claimedRunning] = await storage.claimRuns({
      nodeId: 'n',
      now: Date.now(),
      leaseMs: 30_000,
      limit: 1,
      slots: [{ definitionId: 'ret.running', max: 1 }],
    });
    for (let i = 0; i < 5; i++) {
      await storage.insertRuns([makeRun({ definitionId: 'ret.b' })]);
      await finishAll(storage, 'ret.b', 1);
    }
    expect((await storage.getRun(waiting.id))?.status).toBe('pending');
    expect((await storage.getRun(running.id))?.status).toBe('running');
    expect((await storage.countPending()).get('ret.waiting')).toBe(1);
    const [done] = await storage.updateIterations([{ id: running.id, leaseToken: claimedRunning.leaseToken!, status: 'success' }]);
    expect(done.ok).toBe(true);
    expect((await storage.listRuns({ status: 'success' })).items).toHaveLength(2);
  });

  it('counts runs stored already finished, and runs deleted by deleteFinishedBefore leave room', async () => {
    const storage = memoryStorage({ maxFinishedRuns: 2 });
    const old = makeRun({ definitionId: 'ret.c', status: 'success', finishedOn: '2020-01-01T00:00:00.000Z' });
    await storage.insertRuns([old]);
    expect(await storage.deleteFinishedBefore('2021-01-01T00:00:00.000Z', 10)).toBe(1);
    const a = makeRun({ definitionId: 'ret.c', status: 'failed', finishedOn: new Date().toISOString() });
    const b = makeRun({ definitionId: 'ret.c', status: 'aborted', finishedOn: new Date().toISOString() });
    await storage.insertRuns([a, b]);
    // the deleted run no longer counts: both new ones are kept
    expect((await storage.listRuns({ definition: 'ret.c' })).items.map((r) => r.id)).toEqual([b.id, a.id]);
    const c = makeRun({ definitionId: 'ret.c', status: 'success', finishedOn: new Date().toISOString() });
    await storage.insertRuns([c]);
    expect(await storage.getRun(a.id)).toBeNull();
    expect((await storage.listRuns({ definition: 'ret.c' })).items.map((r) => r.id)).toEqual([c.id, b.id]);
  });

  it('lets a run waiting for a forgotten run start, as for a deleted one', async () => {
    const storage = memoryStorage({ maxFinishedRuns: 1 });
    const first = makeRun({ definitionId: 'ret.d' });
    await storage.insertRuns([first]);
    await finishAll(storage, 'ret.d', 1);
    await storage.insertRuns([makeRun({ definitionId: 'ret.d' })]);
    await finishAll(storage, 'ret.d', 1); // first is forgotten now
    const dependent = makeRun({ definitionId: 'ret.e', after: first.id });
    await storage.insertRuns([dependent]);
    const claimed = await storage.claimRuns({ nodeId: 'n', now: Date.now(), leaseMs: 30_000, limit: 5, slots: [{ definitionId: 'ret.e', max: 5 }] });
    expect(claimed.map((r) => r.id)).toEqual([dependent.id]);
  });

  it('pages listRuns correctly over many forgotten runs (lazy id removal and compaction)', async () => {
    const storage = memoryStorage({ maxFinishedRuns: 100 });
    for (let round = 0; round < 30; round++) {
      await storage.insertRuns(Array.from({ length: 200 }, () => makeRun({ definitionId: round % 2 === 0 ? 'ret.f' : 'ret.g' })));
      await finishAll(storage, round % 2 === 0 ? 'ret.f' : 'ret.g', 200);
    }
    const pending = Array.from({ length: 3 }, () => makeRun({ definitionId: 'ret.f' }));
    await storage.insertRuns(pending);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await storage.listRuns({ limit: 7, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.items.map((r) => r.id));
      cursor = page.cursor;
    } while (cursor !== undefined);
    expect(seen).toHaveLength(103);
    expect(new Set(seen).size).toBe(103);
    expect(seen.slice(0, 3)).toEqual(pending.map((r) => r.id).reverse());
    expect([...seen].sort().reverse()).toEqual(seen);
    expect((await storage.listRuns({ definition: 'ret.f', limit: 500 })).items).toHaveLength(3);
    expect((await storage.listRuns({ definition: 'ret.g', limit: 500 })).items).toHaveLength(100);
  });

  it('keeps everything with maxFinishedRuns: Infinity, and refuses a bad bound', async () => {
    const storage = memoryStorage({ maxFinishedRuns: Infinity });
    await storage.insertRuns(Array.from({ length: 50 }, () => makeRun({ definitionId: 'ret.h' })));
    await finishAll(storage, 'ret.h', 50);
    expect((await storage.listRuns({ limit: 100 })).items).toHaveLength(50);
    expect(memoryStorage().maxFinishedRuns).toBe(10_000);
    for (const bad of [-1, 1.5, Number.NaN, '10' as unknown as number]) {
      expect(() => memoryStorage({ maxFinishedRuns: bad })).toThrow(InvalidArgumentError);
    }
  });
});

describe('memory storage: schedule ticks', () => {
  it('remembers a bounded number of ticks per schedule, the newest', async () => {
    const storage = memoryStorage();
    const tick = (i: number) => new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString();
    for (let i = 0; i < 1500; i++) expect(await storage.recordScheduleTick('s', tick(i))).toBe(true);
    expect(await storage.recordScheduleTick('s', tick(1499))).toBe(false);
    expect(await storage.recordScheduleTick('s', tick(600))).toBe(false);
    expect(await storage.recordScheduleTick('other', tick(1499))).toBe(true);
  });
});
