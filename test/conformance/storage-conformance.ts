import type { RunLog } from '../../src/api/types';
import type { RunRecord } from '../../src/ports/run-record';
import type { ClaimRequest, ClaimSlot, IterationUpdate, RunStorage } from '../../src/ports/storage';
import { newRunId } from '../../src/util/ids';
import { makeRun } from '../helpers/make-run';

export type StorageFactory = () => Promise<{ storage: RunStorage; cleanup: () => Promise<void> }>;

/**
 * The guarantees of {@link RunStorage} (src/ports/storage.ts), as tests. Every adapter runs this
 * suite unchanged: `describeStorageConformance('sqlite', async () => ({ storage, cleanup }))`.
 *
 * The factory returns a fresh, empty, *not yet initialised* storage (its own file, schema or key
 * prefix); the suite calls `init()` before each test and `close()` after it, then `cleanup()`.
 *
 * Time is the claim's `now` (a fixed epoch `T`), never the wall clock, so lease expiry and delays
 * are tested without sleeping.
 */
export function describeStorageConformance(name: string, factory: StorageFactory): void {
  describe(`RunStorage conformance: ${name}`, () => {
    const T = 1_900_000_000_000; // a fixed "now" (2030), far from the wall clock on purpose
    const iso = (ms: number) => new Date(ms).toISOString();
    const DEF = 'conf.alpha';
    const OTHER = 'conf.beta';

    let storage: RunStorage;
    let cleanup: () => Promise<void>;

    beforeEach(async () => {
      ({ storage, cleanup } = await factory());
      await storage.init();
    });

    afterEach(async () => {
      await storage.close();
      await cleanup();
    });

    // ------------------------------------------------------------ helpers

    const slot = (definitionId: string, max = 100, concurrency?: number): ClaimSlot =>
      concurrency === undefined ? { definitionId, max } : { definitionId, max, concurrency };

    function claim(over: Partial<ClaimRequest> = {}): Promise<RunRecord[]> {
      return storage.claimRuns({ nodeId: 'node-a', now: T, leaseMs: 30_000, limit: 100, slots: [slot(DEF)], ...over });
    }

    async function insert(...runs: RunRecord[]): Promise<RunRecord[]> {
      const results = await storage.insertRuns(runs);
      return results.map((r) => r.run);
    }

    async function update(run: RunRecord, change: Omit<IterationUpdate, 'id' | 'leaseToken'>) {
      const [result] = await storage.updateIterations([{ id: run.id, leaseToken: run.leaseToken as string, ...change }]);
      return result;
    }

    async function finish(run: RunRecord, status: 'success' | 'failed' | 'aborted' = 'success') {
      const result = await update(run, { status, finishedOn: iso(T) });
      if (!result.ok) throw new Error(`finish(${run.id}) failed: ${result.reason}`);
      return result.run;
    }

    /** inserts one run and claims it: a running run under a lease */
    async function running(partial: Partial<RunRecord> = {}, now = T, leaseMs = 30_000): Promise<RunRecord> {
      const [run] = await insert(makeRun({ definitionId: DEF, ...partial }));
      const claimed = await claim({ now, leaseMs, slots: [slot(run.definitionId)] });
      const mine = claimed.find((c) => c.id === run.id);
      if (!mine) throw new Error('the run was not claimed');
      return mine;
    }

    const ids = (runs: RunRecord[]) => runs.map((r) => r.id);
    const sorted = (values: string[]) => [...values].sort();

    // ------------------------------------------------------------ basics

    it('declares its capabilities', () => {
      expect(typeof storage.capabilities.durable).toBe('boolean');
      expect(typeof storage.capabilities.shared).toBe('boolean');
    });

    describe('insert and read', () => {
      it('stores a run and gives it back unchanged, every field included', async () => {
        const full = makeRun({
          definitionId: DEF,
          name: 'a full record',
          status: 'failed',
          input: { nested: { list: [1, 'two', true, null, { deep: 1.5 }] } },
          output: { imported: 3 },
          error: { message: 'boom', code: 'E_BOOM', data: { why: ['x'] }, stack: 'Error: boom\n  at x' },
          progress: { info: 'half', current: 5, total: 10 },
          iterations: 4,
          attempt: 2,
          parentId: 'parent-1',
          key: 'key-1',
          context: { user: 'u1', tenant: { id: 7 } },
          after: 'other-run',
          runAt: iso(T + 5),
          scheduledFor: iso(T - 5),
          backfilled: true,
          createdOn: iso(T - 100),
          startedOn: iso(T - 50),
          finishedOn: iso(T - 1),
          nodeId: 'node-x',
          dueAt: T + 5,
          targetNodeId: 'node-y',
          leaseToken: 'tok',
          leaseExpiresAt: T + 1000,
          abortRequested: true,
          recoveries: 1,
          logCount: 0,
        });
        const [result] = await storage.insertRuns([full]);
        expect(result.created).toBe(true);
        expect(result.run).toEqual(full);
        expect(await storage.getRun(full.id)).toEqual(full);
      });

      it('keeps the backfilled flag through claims and completions', async () => {
        const run = makeRun({ definitionId: DEF, scheduledFor: iso(T - 60_000), backfilled: true });
        await insert(run);
        const [claimed] = await claim({ slots: [slot(DEF)] });
        expect(claimed).toMatchObject({ id: run.id, backfilled: true });
        const [done] = await storage.updateIterations([{ id: run.id, leaseToken: claimed.leaseToken!, status: 'success', output: 1 }]);
        expect(done.ok && done.run.backfilled).toBe(true);
        expect((await storage.getRun(run.id))?.backfilled).toBe(true);
      });

      it('round-trips the minimal record and answers null for an unknown id', async () => {
        const run = makeRun({ definitionId: DEF, input: undefined });
        await insert(run);
        const back = await storage.getRun(run.id);
        expect(back).toEqual(run);
        expect(back?.output).toBeUndefined();
        expect(back?.leaseToken).toBeUndefined();
        expect(await storage.getRun('no-such-run')).toBeNull();
      });

      it('inserts a batch, answering one result per run in order', async () => {
        const runs = Array.from({ length: 100 }, (_, i) => makeRun({ definitionId: DEF, input: { i } }));
        const results = await storage.insertRuns(runs);
        expect(results.map((r) => r.created)).toEqual(runs.map(() => true));
        expect(results.map((r) => r.run.id)).toEqual(ids(runs));
        expect(results[42].run.input).toEqual({ i: 42 });
      });

      it('getRuns returns the runs found and skips unknown ids', async () => {
        const [a, b, c] = await insert(makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF }), makeRun({ definitionId: OTHER }));
        const got = await storage.getRuns([c.id, 'missing', a.id]);
        expect(sorted(ids(got))).toEqual(sorted([a.id, c.id]));
        expect(got.find((r) => r.id === c.id)).toEqual(c);
        expect(await storage.getRuns([])).toEqual([]);
        expect(b).toBeDefined();
      });

      it('getEndedRuns gives the ended runs whole, the unknown ids, and leaves out unfinished ones', async () => {
        const pending = (await insert(makeRun({ definitionId: DEF })))[0];
        const live = await running();
        const done = await finish(await running({ input: { x: 1 } }));
        const failed = await finish(await running(), 'failed');
        const got = await storage.getEndedRuns([pending.id, 'missing', live.id, done.id, failed.id, 'missing-too']);
        expect(sorted(ids(got.ended))).toEqual(sorted([done.id, failed.id]));
        expect(got.ended.find((r) => r.id === done.id)).toEqual(done);
        expect(sorted(got.missing)).toEqual(['missing', 'missing-too']);
        expect(await storage.getEndedRuns([])).toEqual({ ended: [], missing: [] });
      });

      it('hands out copies: mutating what was given or returned changes nothing stored', async () => {
        const input = { nested: { n: 1 }, list: [1] };
        const run = makeRun({ definitionId: DEF, input });
        const [returned] = await insert(run);
        input.nested.n = 99;
        input.list.push(2);
        (returned.input as { nested: { n: number } }).nested.n = 42;
        const read = await storage.getRun(run.id);
        expect(read?.input).toEqual({ nested: { n: 1 }, list: [1] });
        (read?.input as { nested: { n: number } }).nested.n = 7;
        expect((await storage.getRun(run.id))?.input).toEqual({ nested: { n: 1 }, list: [1] });
      });

      it('stores values with JSON semantics: plain objects back, undefined dropped, Dates as strings', async () => {
        class Point {
          constructor(
            public x: number,
            public y: number,
          ) {}
        }
        const run = makeRun({ definitionId: DEF, input: { p: new Point(1, 2), when: new Date(0), gone: undefined, arr: [undefined, 1] } });
        await insert(run);
        const back = (await storage.getRun(run.id))?.input as Record<string, unknown>;
        expect(back).toEqual({ p: { x: 1, y: 2 }, when: '1970-01-01T00:00:00.000Z', arr: [null, 1] });
        expect(Object.getPrototypeOf(back.p)).toBe(Object.prototype);
        expect(Object.keys(back)).not.toContain('gone');
      });
    });

    // ------------------------------------------------------------ idempotency keys

    describe('idempotency keys', () => {
      it('returns the unfinished run with the same (definition, key) instead of inserting another', async () => {
        const [first] = await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k1', input: { n: 1 } })]);
        const [second] = await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k1', input: { n: 2 } })]);
        expect(first.created).toBe(true);
        expect(second.created).toBe(false);
        expect(second.run).toEqual(first.run);
        expect((await storage.listRuns({ definition: DEF })).items).toHaveLength(1);
        expect(await storage.findUnfinishedByKey(DEF, 'k1')).toEqual(first.run);
      });

      it('scopes keys per definition', async () => {
        const results = await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k' }), makeRun({ definitionId: OTHER, key: 'k' })]);
        expect(results.map((r) => r.created)).toEqual([true, true]);
      });

      it('applies the key inside one batch too', async () => {
        const results = await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k' }), makeRun({ definitionId: DEF, key: 'k' })]);
        expect(results.map((r) => r.created)).toEqual([true, false]);
        expect(results[1].run.id).toBe(results[0].run.id);
      });

      it('creates exactly one run when 50 inserts with the same key race', async () => {
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => storage.insertRuns([makeRun({ definitionId: DEF, key: 'race', input: { i } })])),
        );
        const flat = results.map(([r]) => r);
        expect(flat.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(flat.map((r) => r.run.id)).size).toBe(1);
        expect((await storage.listRuns({ definition: DEF })).items).toHaveLength(1);
      });

      it('keeps the key while the run is running or parked, and frees it when the run finishes', async () => {
        const run = await running({ key: 'k' });
        expect((await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k' })]))[0].created).toBe(false);
        const parked = await update(run, { status: 'running', dueAt: T + 1000 });
        expect(parked.ok).toBe(true);
        expect((await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k' })]))[0].created).toBe(false);
        expect((await storage.findUnfinishedByKey(DEF, 'k'))?.id).toBe(run.id);

        const [resumed] = await claim({ now: T + 1000 });
        await finish(resumed);
        expect(await storage.findUnfinishedByKey(DEF, 'k')).toBeNull();
        const [again] = await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k' })]);
        expect(again.created).toBe(true);
        expect(again.run.id).not.toBe(run.id);
        expect((await storage.findUnfinishedByKey(DEF, 'k'))?.id).toBe(again.run.id);
      });

      it('frees the key of an aborted pending run', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF, key: 'k' }));
        await storage.requestAbort(run.id, 'stop', iso(T));
        expect((await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k' })]))[0].created).toBe(true);
      });

      it('findUnfinishedByKey answers null for an unknown key', async () => {
        await insert(makeRun({ definitionId: DEF, key: 'k' }));
        expect(await storage.findUnfinishedByKey(DEF, 'other')).toBeNull();
        expect(await storage.findUnfinishedByKey(OTHER, 'k')).toBeNull();
      });
    });

    // ------------------------------------------------------------ listRuns

    describe('listRuns', () => {
      it('lists newest first (id descending), 50 by default, with a cursor for the rest', async () => {
        const runs = Array.from({ length: 60 }, () => makeRun({ definitionId: DEF }));
        await storage.insertRuns(runs);
        const newestFirst = ids(runs).reverse();
        const first = await storage.listRuns({});
        expect(ids(first.items)).toEqual(newestFirst.slice(0, 50));
        expect(typeof first.cursor).toBe('string');
        const second = await storage.listRuns({ cursor: first.cursor });
        expect(ids(second.items)).toEqual(newestFirst.slice(50));
        expect(second.cursor).toBeUndefined();
      });

      it('pages with a limit without gaps or repeats, and ends without a cursor', async () => {
        const runs = Array.from({ length: 20 }, () => makeRun({ definitionId: DEF }));
        // inserted out of order: the order of listRuns is the ids', not the inserts'
        await storage.insertRuns([...runs].reverse());
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await storage.listRuns({ limit: 7, cursor });
          seen.push(...ids(page.items));
          cursor = page.cursor;
          pages++;
        } while (cursor !== undefined && pages < 10);
        expect(pages).toBe(3);
        expect(seen).toEqual(ids(runs).reverse());
        const exact = await storage.listRuns({ limit: 20 });
        expect(exact.items).toHaveLength(20);
        expect(exact.cursor).toBeUndefined();
      });

      it('filters by definition, status (one or several), parent and scheduled', async () => {
        const [parent] = await insert(makeRun({ definitionId: DEF }));
        const child1 = makeRun({ definitionId: OTHER, parentId: parent.id });
        const child2 = makeRun({ definitionId: DEF, parentId: parent.id, scheduledFor: iso(T) });
        const doneRun = makeRun({ definitionId: OTHER, status: 'success', finishedOn: iso(T) });
        const failedRun = makeRun({ definitionId: DEF, status: 'failed', finishedOn: iso(T), scheduledFor: iso(T - 1000) });
        await insert(child1, child2, doneRun, failedRun);

        const list = async (q: Parameters<RunStorage['listRuns']>[0]) => sorted(ids((await storage.listRuns(q)).items));
        expect(await list({ definition: DEF })).toEqual(sorted([parent.id, child2.id, failedRun.id]));
        expect(await list({ definition: 'conf.none' })).toEqual([]);
        expect(await list({ status: 'success' })).toEqual([doneRun.id]);
        expect(await list({ status: ['success', 'failed'] })).toEqual(sorted([doneRun.id, failedRun.id]));
        expect(await list({ status: 'pending' })).toEqual(sorted([parent.id, child1.id, child2.id]));
        expect(await list({ parentId: parent.id })).toEqual(sorted([child1.id, child2.id]));
        expect(await list({ scheduled: true })).toEqual(sorted([child2.id, failedRun.id]));
        expect(await list({ scheduled: false })).toEqual(sorted([parent.id, child1.id, doneRun.id]));
        expect(await list({ definition: DEF, status: 'pending', scheduled: false })).toEqual([parent.id]);
        expect(await list({ definition: DEF, parentId: parent.id })).toEqual([child2.id]);
      });

      it('filters by tenant (a string context.tenant), alone and with the other filters, in full pages', async () => {
        // 30 runs of tenant a among 300 of others: every page of a's holds `limit` runs
        const runs: RunRecord[] = [];
        for (let i = 0; i < 330; i++) {
          const tenant = i % 11 === 0 ? 'a' : `t${i % 7}`;
          runs.push(makeRun({ definitionId: i % 2 === 0 ? DEF : OTHER, context: { tenant, user: 'u' } }));
        }
        const odd = [
          makeRun({ definitionId: DEF, context: { tenant: { name: 'a' } } as never }), // not a string
          makeRun({ definitionId: DEF, context: { tenant: ['a'] } as never }),
          makeRun({ definitionId: DEF, context: { user: 'a' } }), // no tenant
          makeRun({ definitionId: DEF }), // no context
          makeRun({ definitionId: DEF, context: { tenant: 'A' } }), // another case
          makeRun({ definitionId: DEF, context: { nested: { tenant: 'a' } } as never }),
        ];
        await storage.insertRuns([...runs, ...odd]);
        const ofA = ids(runs.filter((r) => r.context?.tenant === 'a')).reverse();
        expect(ofA).toHaveLength(30);
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await storage.listRuns({ tenant: 'a', limit: 7, cursor });
          if (page.cursor !== undefined) expect(page.items).toHaveLength(7);
          seen.push(...ids(page.items));
          cursor = page.cursor;
          pages++;
        } while (cursor !== undefined && pages < 10);
        expect(seen).toEqual(ofA);
        expect(pages).toBe(5);

        const list = async (q: Parameters<RunStorage['listRuns']>[0]) => ids((await storage.listRuns({ limit: 1000, ...q })).items);
        expect(await list({ tenant: 'a', definition: DEF })).toEqual(ids(runs.filter((r) => r.context?.tenant === 'a' && r.definitionId === DEF)).reverse());
        expect(await list({ tenant: 'a', status: 'pending' })).toEqual(ofA);
        expect(await list({ tenant: 'a', status: 'success' })).toEqual([]);
        expect(await list({ tenant: 'A' })).toEqual([odd[4].id]);
        expect(await list({ tenant: 'nobody' })).toEqual([]);
        expect(await list({ tenant: '' })).toEqual([]);
        // text no stored tenant holds: an empty page, never a driver's error
        expect(await list({ tenant: 'a\u0000b' })).toEqual([]);
        expect(await list({ tenant: '\ud800' })).toEqual([]);
      });

      it('pages a filtered list', async () => {
        const mine = Array.from({ length: 9 }, () => makeRun({ definitionId: DEF }));
        const noise = Array.from({ length: 9 }, () => makeRun({ definitionId: OTHER }));
        await storage.insertRuns(mine.flatMap((m, i) => [m, noise[i]]));
        const first = await storage.listRuns({ definition: DEF, limit: 5 });
        const second = await storage.listRuns({ definition: DEF, limit: 5, cursor: first.cursor });
        expect([...ids(first.items), ...ids(second.items)]).toEqual(ids(mine).reverse());
        expect(second.cursor).toBeUndefined();
      });
    });

    // ------------------------------------------------------------ text no run can hold

    describe('NUL characters in what a caller asks for (issue 8)', () => {
      // PostgreSQL text cannot hold NUL: such a value matches no stored run, on every storage,
      // and never comes back as a StorageError carrying the driver's message
      const NUL = 'a\u0000b';

      it('reads match nothing: empty pages, null, not_found, missing', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        await storage.appendLogs([{ runId: run.id, type: 'info', message: 'line', createdOn: iso(T) }], 100);
        expect(await storage.listRuns({ definition: NUL })).toEqual({ items: [] });
        expect(await storage.listRuns({ parentId: NUL })).toEqual({ items: [] });
        expect(await storage.listRuns({ definition: DEF, parentId: NUL, status: 'pending' })).toEqual({ items: [] });
        expect(await storage.listLogs({ runId: NUL })).toEqual({ items: [] });
        expect(await storage.getRun(NUL)).toBeNull();
        expect(await storage.getRuns([NUL, run.id])).toEqual([expect.objectContaining({ id: run.id })]);
        expect(await storage.getEndedRuns([NUL])).toEqual({ ended: [], missing: [NUL] });
        expect(await storage.findUnfinishedByKey(DEF, NUL)).toBeNull();
        expect(await storage.findUnfinishedByKey(NUL, 'k')).toBeNull();
        expect(await storage.requestAbort(NUL, 'why', iso(T))).toEqual({ kind: 'not_found' });
        expect(await storage.getValue(NUL, 'k')).toBeUndefined();
        expect(await storage.getValue(run.id, NUL)).toBeUndefined();
        await storage.saveProgress(NUL, { info: 'x' }); // no such run: nothing happens
        expect((await storage.getRun(run.id))?.status).toBe('pending');
      });

      it('a cursor with NUL is refused (INVALID_ARGUMENT) or reads a page, never a StorageError', async () => {
        await insert(makeRun({ definitionId: DEF }));
        for (const call of [() => storage.listRuns({ cursor: NUL }), () => storage.listLogs({ runId: 'r1', cursor: NUL })]) {
          const outcome = await call().then(
            (page) => ({ page: Array.isArray(page.items) }),
            (err: { code?: string }) => ({ code: err.code }),
          );
          expect([{ page: true }, { code: 'INVALID_ARGUMENT' }]).toContainEqual(outcome);
        }
      });
    });

    // ------------------------------------------------------------ logs

    describe('logs', () => {
      const log = (runId: string, message: string, extra: Partial<RunLog> = {}): RunLog => ({
        runId,
        type: 'info',
        message,
        createdOn: iso(T),
        ...extra,
      });

      it('appends lines, lists them oldest first, counts them on the run', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        const kept = await storage.appendLogs(
          [log(run.id, 'one'), log(run.id, 'two', { type: 'warn', data: { a: [1] } }), log(run.id, 'three', { type: 'error' })],
          100,
        );
        expect(kept).toBe(3);
        const page = await storage.listLogs({ runId: run.id });
        expect(page.items).toEqual([log(run.id, 'one'), log(run.id, 'two', { type: 'warn', data: { a: [1] } }), log(run.id, 'three', { type: 'error' })]);
        expect(page.cursor).toBeUndefined();
        expect((await storage.getRun(run.id))?.logCount).toBe(3);
      });

      it('keeps the lines of each run apart, also within one batch', async () => {
        const [a, b] = await insert(makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF }));
        await storage.appendLogs([log(a.id, 'a1'), log(b.id, 'b1'), log(a.id, 'a2')], 100);
        expect((await storage.listLogs({ runId: a.id })).items.map((l) => l.message)).toEqual(['a1', 'a2']);
        expect((await storage.listLogs({ runId: b.id })).items.map((l) => l.message)).toEqual(['b1']);
        expect((await storage.listLogs({ runId: 'nobody' })).items).toEqual([]);
      });

      it('drops lines beyond maxPerRun, across calls, and says how many were kept', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        expect(await storage.appendLogs([log(run.id, '1'), log(run.id, '2')], 3)).toBe(2);
        expect(await storage.appendLogs([log(run.id, '3'), log(run.id, '4'), log(run.id, '5')], 3)).toBe(1);
        expect(await storage.appendLogs([log(run.id, '6')], 3)).toBe(0);
        expect((await storage.listLogs({ runId: run.id })).items.map((l) => l.message)).toEqual(['1', '2', '3']);
        expect((await storage.getRun(run.id))?.logCount).toBe(3);
      });

      it('pages oldest first, 50 by default', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        const lines = Array.from({ length: 60 }, (_, i) => log(run.id, `line ${i}`));
        expect(await storage.appendLogs(lines, 1000)).toBe(60);
        const first = await storage.listLogs({ runId: run.id });
        expect(first.items.map((l) => l.message)).toEqual(lines.slice(0, 50).map((l) => l.message));
        expect(typeof first.cursor).toBe('string');
        const second = await storage.listLogs({ runId: run.id, cursor: first.cursor });
        expect(second.items.map((l) => l.message)).toEqual(lines.slice(50).map((l) => l.message));
        expect(second.cursor).toBeUndefined();

        const seen: string[] = [];
        let cursor: string | undefined;
        do {
          const page = await storage.listLogs({ runId: run.id, limit: 25, cursor });
          seen.push(...page.items.map((l) => l.message));
          cursor = page.cursor;
        } while (cursor !== undefined && seen.length <= 60);
        expect(seen).toEqual(lines.map((l) => l.message));
      });
    });

    // ------------------------------------------------------------ claims

    describe('claims', () => {
      it('moves a pending run to running under a fresh lease: iterations+1, attempt+1, startedOn', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        const claimed = await claim({ now: T, leaseMs: 5000, nodeId: 'node-a' });
        expect(claimed).toHaveLength(1);
        const [c] = claimed;
        expect(c).toMatchObject({
          id: run.id,
          status: 'running',
          nodeId: 'node-a',
          leaseExpiresAt: T + 5000,
          iterations: 1,
          attempt: 1,
          recoveries: 0,
          startedOn: iso(T),
        });
        expect(typeof c.leaseToken).toBe('string');
        expect(c.leaseToken?.length).toBeGreaterThan(0);
        expect(await storage.getRun(run.id)).toEqual(c);
        expect(await claim({ now: T + 1 })).toEqual([]);
      });

      it('gives every claimed run its own lease token', async () => {
        await insert(...Array.from({ length: 5 }, () => makeRun({ definitionId: DEF })));
        const claimed = await claim();
        expect(new Set(claimed.map((c) => c.leaseToken)).size).toBe(5);
      });

      it('does not claim a run before its dueAt (dueAt == now is due)', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF, dueAt: T + 1000 }));
        expect(await claim({ now: T })).toEqual([]);
        expect(await claim({ now: T + 999 })).toEqual([]);
        expect(ids(await claim({ now: T + 1000 }))).toEqual([run.id]);
      });

      it('claims due runs ahead of an older run that is not due yet', async () => {
        const [later, soon] = await insert(makeRun({ definitionId: DEF, dueAt: T + 60_000 }), makeRun({ definitionId: DEF }));
        expect(ids(await claim({ now: T, leaseMs: 600_000 }))).toEqual([soon.id]);
        expect(ids(await claim({ now: T + 60_000 }))).toEqual([later.id]);
      });

      it('does not claim a run that is not due when the clock goes backwards', async () => {
        const [now, later] = await insert(makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF, dueAt: T + 100 }));
        // a claim far ahead sees both due but takes one ...
        expect(ids(await claim({ now: T + 200, limit: 1, leaseMs: 600_000 }))).toEqual([now.id]);
        // ... then the clock is set back: the other one is not due any more
        expect(await claim({ now: T })).toEqual([]);
        expect(ids(await claim({ now: T + 100 }))).toEqual([later.id]);
      });

      it('keeps id order when runs are released back to pending out of order', async () => {
        const runs = Array.from({ length: 1500 }, () => makeRun({ definitionId: DEF }));
        await storage.insertRuns(runs);
        const claimed = await claim({ limit: 1200, slots: [slot(DEF, 1200)] });
        expect(claimed).toHaveLength(1200);
        // release them in a scrambled order
        const scrambled = claimed
          .map((c, i) => ({ c, k: (i * 7919) % 1200 }))
          .sort((a, b) => a.k - b.k)
          .map((x) => x.c);
        const results = await storage.updateIterations(scrambled.map((c) => ({ id: c.id, leaseToken: c.leaseToken as string, status: 'pending' as const })));
        expect(results.every((r) => r.ok)).toBe(true);
        const order: string[] = [];
        for (let batch = await claim({ limit: 100 }); batch.length > 0; batch = await claim({ limit: 100 })) order.push(...ids(batch));
        expect(order).toEqual(ids(runs));
      });

      it('holds a run whose `after` run is unfinished, releases it when that run finishes', async () => {
        const [first] = await insert(makeRun({ definitionId: DEF }));
        const [second] = await insert(makeRun({ definitionId: OTHER, after: first.id }));
        const both = [slot(DEF), slot(OTHER)];
        expect(await claim({ slots: [slot(OTHER)] })).toEqual([]);
        const [c] = await claim({ slots: both });
        expect(c.id).toBe(first.id);
        expect(await claim({ slots: both })).toEqual([]); // first is running: still held
        await finish(c, 'failed');
        expect(ids(await claim({ slots: both }))).toEqual([second.id]);
      });

      it('releases a run waiting for an `after` run that gets aborted', async () => {
        const [first, second] = await insert(makeRun({ definitionId: OTHER }), makeRun({ definitionId: DEF }));
        const [waiting] = await insert(makeRun({ definitionId: DEF, after: first.id }));
        expect(ids(await claim())).toEqual([second.id]);
        await storage.requestAbort(first.id, 'no', iso(T));
        expect(ids(await claim())).toEqual([waiting.id]);
      });

      it('does not hold a run whose `after` run does not exist', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF, after: 'no-such-run' }));
        expect(ids(await claim())).toEqual([run.id]);
      });

      it('claims nothing pending of a disabled definition, until it is enabled', async () => {
        const [a] = await insert(makeRun({ definitionId: DEF }));
        const [b] = await insert(makeRun({ definitionId: OTHER }));
        await storage.setDefinitionDisabled(DEF, true);
        expect(await storage.getDisabledDefinitions()).toEqual(new Set([DEF]));
        expect(ids(await claim({ slots: [slot(DEF), slot(OTHER)] }))).toEqual([b.id]);
        expect(await claim({ slots: [slot(DEF)] })).toEqual([]);
        await storage.setDefinitionDisabled(DEF, false);
        expect(await storage.getDisabledDefinitions()).toEqual(new Set());
        expect(ids(await claim({ slots: [slot(DEF)] }))).toEqual([a.id]);
      });

      it('still resumes parked runs of a disabled definition (only pending runs are held)', async () => {
        const run = await running();
        await update(run, { status: 'running', dueAt: T + 10 });
        await storage.setDefinitionDisabled(DEF, true);
        expect(ids(await claim({ now: T + 10 }))).toEqual([run.id]);
      });

      it('considers only the definitions named in slots', async () => {
        await insert(makeRun({ definitionId: OTHER }));
        expect(await claim({ slots: [slot(DEF)] })).toEqual([]);
        expect(await claim({ slots: [] })).toEqual([]);
      });

      it('respects each slot max and the overall limit', async () => {
        await insert(...Array.from({ length: 10 }, () => makeRun({ definitionId: DEF })));
        await insert(...Array.from({ length: 10 }, () => makeRun({ definitionId: OTHER })));
        const a = await claim({ limit: 100, slots: [slot(DEF, 3), slot(OTHER, 2)] });
        expect(a.filter((r) => r.definitionId === DEF)).toHaveLength(3);
        expect(a.filter((r) => r.definitionId === OTHER)).toHaveLength(2);
        const b = await claim({ limit: 4, slots: [slot(DEF, 100), slot(OTHER, 100)] });
        expect(b).toHaveLength(4);
        const rest = await claim({ limit: 100, slots: [slot(DEF), slot(OTHER)] });
        expect(rest).toHaveLength(20 - 5 - 4);
      });

      it('takes the oldest (id order) first within a definition, whatever the insert order', async () => {
        const runs = Array.from({ length: 6 }, () => makeRun({ definitionId: DEF }));
        await storage.insertRuns([runs[3], runs[5], runs[0], runs[4], runs[2], runs[1]]);
        expect(ids(await claim({ limit: 3 }))).toEqual(ids(runs.slice(0, 3)));
        expect(ids(await claim({ limit: 3 }))).toEqual(ids(runs.slice(3)));
      });

      it('with concurrency 1 runs one at a time, in trigger (id) order', async () => {
        const runs = Array.from({ length: 5 }, () => makeRun({ definitionId: DEF }));
        await storage.insertRuns([...runs].reverse());
        const order: string[] = [];
        for (let i = 0; i < runs.length; i++) {
          const claimed = await claim({ slots: [slot(DEF, 10, 1)] });
          expect(claimed).toHaveLength(1);
          expect(await claim({ slots: [slot(DEF, 10, 1)] })).toEqual([]);
          order.push(claimed[0].id);
          await finish(claimed[0]);
        }
        expect(order).toEqual(ids(runs));
      });

      it('counts running runs, parked ones included, against the concurrency across claims', async () => {
        const runs = Array.from({ length: 4 }, () => makeRun({ definitionId: DEF }));
        await storage.insertRuns(runs);
        const limited = [slot(DEF, 10, 2)];
        const [a, b] = await claim({ slots: limited });
        expect([a.id, b.id]).toEqual(ids(runs.slice(0, 2)));
        expect(await claim({ slots: limited })).toEqual([]);

        await update(a, { status: 'running', dueAt: T + 1000 }); // parked: still counts
        expect(await claim({ slots: limited })).toEqual([]);

        await finish(b);
        const third = await claim({ slots: limited });
        expect(ids(third)).toEqual([runs[2].id]); // a parked + third running = 2

        // the parked run resumes without a concurrency check; the fourth still waits
        expect(ids(await claim({ now: T + 1000, slots: limited }))).toEqual([a.id]);
      });

      it('resumes parked runs without a concurrency check', async () => {
        const parked = [0, 1].map(() => makeRun({ definitionId: DEF, status: 'running', iterations: 1, attempt: 1, startedOn: iso(T - 10), dueAt: T - 1 }));
        await storage.insertRuns(parked);
        const claimed = await claim({ slots: [slot(DEF, 10, 1)] });
        expect(sorted(ids(claimed))).toEqual(sorted(ids(parked)));
        for (const c of claimed) expect(c).toMatchObject({ iterations: 2, attempt: 1, startedOn: iso(T - 10) });
      });

      it('claims a run with a targetNodeId only on that node', async () => {
        const [targeted] = await insert(makeRun({ definitionId: DEF, targetNodeId: 'node-b' }));
        expect(await claim({ nodeId: 'node-a' })).toEqual([]);
        const [open] = await insert(makeRun({ definitionId: DEF }));
        expect(ids(await claim({ nodeId: 'node-a' }))).toEqual([open.id]);
        expect(ids(await claim({ nodeId: 'node-b' }))).toEqual([targeted.id]);
      });

      it('takes up a run whose lease expired: recoveries+1, attempt+1, iterations+1, new token, answered as recovered', async () => {
        const first = await running({}, T, 1000);
        expect(first.recovered).toBeUndefined(); // a pending run's claim is not a recovery
        expect(await claim({ now: T + 1000, nodeId: 'node-b' })).toEqual([]); // expires at T+1000: not before
        const [again] = await claim({ now: T + 1001, nodeId: 'node-b', leaseMs: 2000 });
        expect(again).toMatchObject({
          id: first.id,
          status: 'running',
          nodeId: 'node-b',
          recoveries: 1,
          attempt: 2,
          iterations: 2,
          leaseExpiresAt: T + 1001 + 2000,
          startedOn: iso(T),
          recovered: true,
        });
        expect(again.leaseToken).not.toBe(first.leaseToken);
        // the old holder is fenced off
        expect(await update(first, { status: 'success', finishedOn: iso(T) })).toEqual({ ok: false, reason: 'lease_lost' });
        expect((await storage.renewLeases('node-a', [{ id: first.id, leaseToken: first.leaseToken as string }], T + 1002, 1000)).lost).toEqual([first.id]);
        // `recovered` is the claim's answer, not stored
        const { recovered: _answered, ...stored } = again;
        expect(await storage.getRun(first.id)).toEqual(stored);
        expect((await storage.getRun(first.id))?.recovered).toBeUndefined();
      });

      it('takes up expired leases even at the concurrency limit, and no pending run besides', async () => {
        await storage.insertRuns([makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF })]);
        const [held] = await claim({ now: T, leaseMs: 1000, slots: [slot(DEF, 10, 1)] });
        const claimed = await claim({ now: T + 5000, slots: [slot(DEF, 10, 1)] });
        expect(ids(claimed)).toEqual([held.id]);
        expect(claimed[0].recoveries).toBe(1);
      });

      it('claims in one order: expired leases by id, due parked runs by (dueAt, id), due pending runs by id; definitions in slot order', async () => {
        // ids are taken in this order (ascending), so id order alone would give another answer
        const parkedLate = makeRun({ definitionId: DEF, status: 'running', iterations: 1, attempt: 1, startedOn: iso(T - 100), dueAt: T - 10 });
        const pendingOld = makeRun({ definitionId: DEF, dueAt: T - 5 });
        const parkedEarly = makeRun({ definitionId: DEF, status: 'running', iterations: 1, attempt: 1, startedOn: iso(T - 100), dueAt: T - 20 });
        const pendingEarly = makeRun({ definitionId: DEF, dueAt: T - 50 });
        const parkedEarlyToo = makeRun({ definitionId: DEF, status: 'running', iterations: 1, attempt: 1, startedOn: iso(T - 100), dueAt: T - 20 });
        const other = makeRun({ definitionId: OTHER });
        const expired = makeRun({ definitionId: DEF }); // the newest id, yet first: its lease expired
        await running({ id: expired.id }, T - 5000, 1000); // claimed, its lease ended at T - 4000
        await storage.insertRuns([parkedEarlyToo, pendingEarly, parkedLate, other, pendingOld, parkedEarly]);

        const order: string[] = [];
        for (let claimed = await claim({ limit: 1, slots: [slot(DEF)] }); claimed.length > 0; claimed = await claim({ limit: 1, slots: [slot(DEF)] })) {
          order.push(...ids(claimed));
        }
        expect(order).toEqual(ids([expired, parkedEarly, parkedEarlyToo, parkedLate, pendingOld, pendingEarly]));

        // across definitions: round-robin, in the order the slots are given
        const [a1, a2] = await insert(makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF }));
        const [b1] = await insert(makeRun({ definitionId: OTHER }));
        expect(ids(await claim({ limit: 2, slots: [slot(OTHER), slot(DEF)] }))).toEqual([other.id, a1.id]);
        expect(ids(await claim({ limit: 10, slots: [slot(OTHER), slot(DEF)] }))).toEqual([b1.id, a2.id]);
      });

      it('spreads a batch round-robin so a deep queue does not starve another definition', async () => {
        const deep = Array.from({ length: 10_000 }, () => makeRun({ definitionId: DEF }));
        await storage.insertRuns(deep);
        const shallow = await insert(...Array.from({ length: 5 }, () => makeRun({ definitionId: OTHER })));
        const claimed = await claim({ limit: 10, slots: [slot(DEF, 10), slot(OTHER, 10)] });
        expect(claimed).toHaveLength(10);
        expect(sorted(ids(claimed.filter((c) => c.definitionId === OTHER)))).toEqual(sorted(ids(shallow)));
        expect(ids(claimed.filter((c) => c.definitionId === DEF))).toEqual(ids(deep.slice(0, 5)));
      });

      it('spreads evenly over three definitions', async () => {
        const defs = ['conf.r1', 'conf.r2', 'conf.r3'];
        for (const d of defs) await storage.insertRuns(Array.from({ length: 10 }, () => makeRun({ definitionId: d })));
        const claimed = await claim({ limit: 6, slots: defs.map((d) => slot(d)) });
        for (const d of defs) expect(claimed.filter((c) => c.definitionId === d)).toHaveLength(2);
      });

      it('never hands the same run to two concurrent claims', async () => {
        await storage.insertRuns(Array.from({ length: 20 }, () => makeRun({ definitionId: DEF })));
        const [a, b] = await Promise.all([claim({ nodeId: 'node-a', limit: 15 }), claim({ nodeId: 'node-b', limit: 15 })]);
        const all = [...ids(a), ...ids(b)];
        expect(all).toHaveLength(20);
        expect(new Set(all).size).toBe(20);
      });

      it('stays cheap with 100,000 pending runs', async () => {
        for (let i = 0; i < 10; i++) {
          await storage.insertRuns(Array.from({ length: 10_000 }, () => makeRun({ definitionId: DEF })));
        }
        await storage.insertRuns([makeRun({ definitionId: OTHER })]);
        const started = performance.now();
        let total = 0;
        for (let i = 0; i < 50; i++) total += (await claim({ limit: 10, slots: [slot(DEF, 10), slot(OTHER, 10)] })).length;
        const elapsed = performance.now() - started;
        expect(total).toBe(500);
        expect(elapsed).toBeLessThan(1000); // ~20 ms in memory or SQLite; a scan of the queue per claim takes seconds
        expect((await storage.countPending()).get(DEF)).toBe(100_000 - 499);
      }, 120_000);
    });

    // ------------------------------------------------------------ updateIterations

    describe('updateIterations', () => {
      it('refuses a wrong lease token with lease_lost and changes nothing', async () => {
        const run = await running();
        const before = await storage.getRun(run.id);
        const result = await storage.updateIterations([{ id: run.id, leaseToken: 'not-the-token', status: 'success', output: { x: 1 }, finishedOn: iso(T) }]);
        expect(result).toEqual([{ ok: false, reason: 'lease_lost' }]);
        expect(await storage.getRun(run.id)).toEqual(before);
      });

      it('answers not_found for an unknown run and lease_lost for a run that is not running', async () => {
        const [pending] = await insert(makeRun({ definitionId: DEF }));
        const results = await storage.updateIterations([
          { id: 'no-such-run', leaseToken: 't', status: 'success' },
          { id: pending.id, leaseToken: 't', status: 'success' },
        ]);
        expect(results).toEqual([
          { ok: false, reason: 'not_found' },
          { ok: false, reason: 'lease_lost' },
        ]);
        expect((await storage.getRun(pending.id))?.status).toBe('pending');
      });

      it('parks a run (running, no lease) until dueAt, with its new input and progress', async () => {
        const run = await running({ input: { step: 1 } });
        const result = await update(run, { status: 'running', dueAt: T + 5000, input: { step: 2 }, progress: { current: 1, total: 3 } });
        if (!result.ok) throw new Error(result.reason);
        expect(result.run).toMatchObject({ status: 'running', dueAt: T + 5000, input: { step: 2 }, progress: { current: 1, total: 3 }, iterations: 1 });
        expect(result.run.leaseToken).toBeUndefined();
        expect(result.run.leaseExpiresAt).toBeUndefined();
        expect(await storage.getRun(run.id)).toEqual(result.run);
        // parked: its old token is gone
        expect(await update(run, { status: 'success' })).toEqual({ ok: false, reason: 'lease_lost' });

        expect(await claim({ now: T + 4999 })).toEqual([]);
        const [resumed] = await claim({ now: T + 5000 });
        expect(resumed).toMatchObject({ id: run.id, iterations: 2, attempt: 1, recoveries: 0, input: { step: 2 }, startedOn: iso(T) });
        expect(resumed.recovered).toBeUndefined(); // a parked run's resumption is not a recovery
      });

      it('releases a run back to pending (graceful stop): claimable again with attempt+1', async () => {
        const run = await running();
        const result = await update(run, { status: 'pending', dueAt: T });
        if (!result.ok) throw new Error(result.reason);
        expect(result.run.status).toBe('pending');
        expect(result.run.leaseToken).toBeUndefined();
        expect((await storage.countPending()).get(DEF)).toBe(1);
        const [again] = await claim({ now: T + 1 });
        expect(again).toMatchObject({ id: run.id, attempt: 2, iterations: 2 });
      });

      it('a release with unclaim undoes the claim: attempt and iterations back by one', async () => {
        const run = await running();
        expect(run).toMatchObject({ attempt: 1, iterations: 1 });
        const result = await update(run, { status: 'pending', dueAt: T, unclaim: true });
        if (!result.ok) throw new Error(result.reason);
        expect(result.run).toMatchObject({ status: 'pending', attempt: 0, iterations: 0 });
        // its first claim: it never started, on no node
        expect(result.run.startedOn).toBeUndefined();
        expect(result.run.nodeId).toBeUndefined();
        expect(await storage.getRun(run.id)).toEqual(result.run);
        const [again] = await claim({ now: T + 1 });
        expect(again).toMatchObject({ id: run.id, attempt: 1, iterations: 1, startedOn: iso(T + 1) });
        // given back after a later claim: it did start once, and keeps when
        const [third] = await storage.updateIterations([{ id: again.id, leaseToken: again.leaseToken as string, status: 'pending', dueAt: T, unclaim: false }]);
        if (!third.ok) throw new Error(third.reason);
        const [fourth] = await claim({ now: T + 2 });
        const back = await update(fourth, { status: 'pending', dueAt: T, unclaim: true });
        if (!back.ok) throw new Error(back.reason);
        expect(back.run).toMatchObject({ attempt: 1, startedOn: iso(T + 1) });
      });

      it('a final update with unclaim (run() never called) does not count the iteration', async () => {
        const run = await running();
        const result = await update(run, { status: 'aborted', error: { message: 'stop', code: 'ABORTED' }, finishedOn: iso(T), unclaim: true });
        if (!result.ok) throw new Error(result.reason);
        expect(result.run).toMatchObject({ status: 'aborted', attempt: 1, iterations: 0 });
      });

      it('finishes a run: success with output, failed with error, aborted', async () => {
        const ok = await running();
        const bad = await running();
        const stopped = await running();
        const results = await storage.updateIterations([
          { id: ok.id, leaseToken: ok.leaseToken as string, status: 'success', output: { imported: 3 }, finishedOn: iso(T + 1) },
          { id: bad.id, leaseToken: bad.leaseToken as string, status: 'failed', error: { message: 'x', code: 'E', data: { a: 1 } }, finishedOn: iso(T + 2) },
          { id: stopped.id, leaseToken: stopped.leaseToken as string, status: 'aborted', finishedOn: iso(T + 3) },
        ]);
        expect(results.every((r) => r.ok)).toBe(true);
        const [a, b, c] = await storage.getRuns([ok.id, bad.id, stopped.id]);
        expect(a).toMatchObject({ status: 'success', output: { imported: 3 }, finishedOn: iso(T + 1) });
        expect(b).toMatchObject({ status: 'failed', error: { message: 'x', code: 'E', data: { a: 1 } }, finishedOn: iso(T + 2) });
        expect(c).toMatchObject({ status: 'aborted', finishedOn: iso(T + 3) });
        for (const r of [a, b, c]) expect(r.leaseToken).toBeUndefined();
        // finished runs are never claimed again, nor updated again
        expect(await claim({ now: T + 10_000_000 })).toEqual([]);
        expect(await update(ok, { status: 'failed' })).toEqual({ ok: false, reason: 'lease_lost' });
      });

      it('applies a batch of different outcomes for several runs, each answered as stored', async () => {
        const [a, b, c, d, e] = [await running(), await running(), await running({ input: { i: 1 } }), await running(), await running()];
        const results = await storage.updateIterations([
          { id: a.id, leaseToken: a.leaseToken as string, status: 'success', output: { x: 1 }, progress: { current: 3, total: 3 }, finishedOn: iso(T) },
          { id: b.id, leaseToken: b.leaseToken as string, status: 'failed', error: { message: 'boom', code: 'E' }, finishedOn: iso(T + 1) },
          { id: c.id, leaseToken: c.leaseToken as string, status: 'running', dueAt: T + 1000, input: { i: 2 } },
          { id: d.id, leaseToken: d.leaseToken as string, status: 'pending', dueAt: T, unclaim: true },
          { id: e.id, leaseToken: 'not-its-token', status: 'success', finishedOn: iso(T) },
          { id: 'missing', leaseToken: 'x', status: 'success', finishedOn: iso(T) },
        ]);
        expect(results.map((r) => (r.ok ? r.run.status : r.reason))).toEqual(['success', 'failed', 'running', 'pending', 'lease_lost', 'not_found']);
        for (const r of results) if (r.ok) expect(r.run).toEqual(await storage.getRun(r.run.id));
        const [ra, rb, rc, rd] = results.map((r) => (r.ok ? r.run : undefined));
        expect(ra).toMatchObject({ output: { x: 1 }, progress: { current: 3, total: 3 }, finishedOn: iso(T), iterations: 1, attempt: 1 });
        expect(ra?.leaseToken).toBeUndefined();
        expect(rb).toMatchObject({ error: { message: 'boom', code: 'E' }, finishedOn: iso(T + 1) });
        expect(rc).toMatchObject({ input: { i: 2 }, dueAt: T + 1000, iterations: 1 });
        expect(rc?.finishedOn).toBeUndefined();
        expect(rd).toMatchObject({ attempt: 0, iterations: 0, dueAt: T });
        expect(rd?.startedOn).toBeUndefined();
        expect(rd?.nodeId).toBeUndefined();
        expect((await storage.getRun(e.id))?.status).toBe('running');
      });

      it('applies each item of a batch on its own', async () => {
        const good = await running();
        const results = await storage.updateIterations([
          { id: good.id, leaseToken: 'stale', status: 'success' },
          { id: good.id, leaseToken: good.leaseToken as string, status: 'success', output: 1, finishedOn: iso(T) },
          { id: 'missing', leaseToken: 'x', status: 'success' },
        ]);
        expect(results.map((r) => (r.ok ? 'ok' : r.reason))).toEqual(['lease_lost', 'ok', 'not_found']);
        expect((await storage.getRun(good.id))?.output).toBe(1);
      });
    });

    // ------------------------------------------------------------ renewLeases

    describe('renewLeases', () => {
      it('extends a held lease to now + leaseMs, which keeps the run from being taken up', async () => {
        const run = await running({}, T, 1000);
        const result = await storage.renewLeases('node-a', [{ id: run.id, leaseToken: run.leaseToken as string }], T + 900, 1000);
        expect(result).toEqual({ lost: [], abortRequested: [] });
        expect((await storage.getRun(run.id))?.leaseExpiresAt).toBe(T + 1900);
        expect(await claim({ now: T + 1500 })).toEqual([]);
        expect(ids(await claim({ now: T + 1901 }))).toEqual([run.id]);
      });

      it('reports leases it does not hold as lost: wrong token, finished, unknown', async () => {
        const held = await running();
        const done = await running();
        await finish(done);
        const result = await storage.renewLeases(
          'node-a',
          [
            { id: held.id, leaseToken: 'wrong' },
            { id: done.id, leaseToken: done.leaseToken as string },
            { id: 'missing', leaseToken: 'x' },
            { id: held.id, leaseToken: held.leaseToken as string },
          ],
          T + 10,
          1000,
        );
        expect(sorted(result.lost)).toEqual(sorted([held.id, done.id, 'missing']));
        expect(result.abortRequested).toEqual([]);
      });

      it('reports runs with a persisted abort request', async () => {
        const run = await running();
        const quiet = await running();
        await storage.requestAbort(run.id, 'stop', iso(T));
        const result = await storage.renewLeases(
          'node-a',
          [run, quiet].map((r) => ({ id: r.id, leaseToken: r.leaseToken as string })),
          T + 10,
          1000,
        );
        expect(result).toEqual({ lost: [], abortRequested: [run.id] });
      });
    });

    // ------------------------------------------------------------ requestAbort

    describe('requestAbort', () => {
      it('answers not_found for an unknown run', async () => {
        expect(await storage.requestAbort('missing', 'stop', iso(T))).toEqual({ kind: 'not_found' });
      });

      it('ends a pending run at once', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        const result = await storage.requestAbort(run.id, 'no longer needed', iso(T + 7));
        expect(result.kind).toBe('aborted');
        if (result.kind !== 'aborted') return;
        expect(result.run).toMatchObject({ id: run.id, status: 'aborted', error: { message: 'no longer needed', code: 'ABORTED' }, finishedOn: iso(T + 7) });
        expect(await storage.getRun(run.id)).toEqual(result.run);
        expect(await claim()).toEqual([]);
        expect((await storage.countPending()).get(DEF) ?? 0).toBe(0);
      });

      it('ends a parked run at once', async () => {
        const run = await running();
        await update(run, { status: 'running', dueAt: T + 1000 });
        const result = await storage.requestAbort(run.id, 'stop', iso(T + 1));
        expect(result.kind).toBe('aborted');
        if (result.kind !== 'aborted') return;
        expect(result.run).toMatchObject({ status: 'aborted', error: { message: 'stop', code: 'ABORTED' }, finishedOn: iso(T + 1) });
        expect(result.run.leaseToken).toBeUndefined();
        expect(await claim({ now: T + 5000 })).toEqual([]);
        expect(await storage.getRun(run.id)).toEqual(result.run);
      });

      it('records the request on a run under a lease; the holder ends it', async () => {
        const run = await running();
        const result = await storage.requestAbort(run.id, 'stop', iso(T));
        expect(result.kind).toBe('requested');
        if (result.kind !== 'requested') return;
        expect(result.run).toMatchObject({ status: 'running', abortRequested: true, leaseToken: run.leaseToken });
        expect((await storage.getRun(run.id))?.abortRequested).toBe(true);
        const ended = await update(run, { status: 'aborted', finishedOn: iso(T + 1) });
        expect(ended.ok && ended.run.status).toBe('aborted');
      });

      it('returns a finished run unchanged', async () => {
        const run = await running();
        await finish(run, 'success');
        const before = await storage.getRun(run.id);
        const result = await storage.requestAbort(run.id, 'too late', iso(T + 99));
        expect(result).toEqual({ kind: 'finished', run: before });
        expect(await storage.getRun(run.id)).toEqual(before);
      });
    });

    // ------------------------------------------------------------ progress

    describe('saveProgress', () => {
      it('stores the progress of a running run, last write wins', async () => {
        const run = await running();
        await storage.saveProgress(run.id, { info: 'a', current: 1, total: 10 });
        expect((await storage.getRun(run.id))?.progress).toEqual({ info: 'a', current: 1, total: 10 });
        await storage.saveProgress(run.id, { current: 2 });
        expect((await storage.getRun(run.id))?.progress).toEqual({ current: 2 });
        await storage.saveProgress('missing', { current: 1 }); // no throw
      });
    });

    // ------------------------------------------------------------ values

    describe('values', () => {
      it('round-trips JSON values per run and key', async () => {
        const [a, b] = await insert(makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF }));
        const samples: Array<[string, unknown]> = [
          ['object', { nested: { deep: [1, { x: 'y' }] }, flag: false }],
          ['array', [1, 'two', null, true]],
          ['number', 42.5],
          ['zero', 0],
          ['string', 'text'],
          ['empty', ''],
          ['boolean', false],
          ['null', null],
        ];
        for (const [key, value] of samples) await storage.setValue(a.id, key, value);
        for (const [key, value] of samples) expect(await storage.getValue(a.id, key)).toEqual(value);
        expect(await storage.getValue(a.id, 'never-set')).toBeUndefined();
        expect(await storage.getValue(b.id, 'object')).toBeUndefined();
        await storage.setValue(a.id, 'number', 43);
        expect(await storage.getValue(a.id, 'number')).toBe(43);
        const obj = (await storage.getValue(a.id, 'object')) as object;
        expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
      });

      it('hands out copies of values', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        const value = { list: [1] };
        await storage.setValue(run.id, 'v', value);
        value.list.push(2);
        const read = (await storage.getValue(run.id, 'v')) as { list: number[] };
        read.list.push(3);
        expect(await storage.getValue(run.id, 'v')).toEqual({ list: [1] });
      });

      it('treats "__proto__" as an ordinary key and never pollutes prototypes', async () => {
        const [run] = await insert(makeRun({ definitionId: DEF }));
        const hostile = JSON.parse('{"__proto__":{"polluted":1},"inner":[{"__proto__":{"polluted":2}}],"constructor":{"prototype":{"polluted":3}}}') as object;
        await storage.setValue(run.id, 'hostile', hostile);
        await storage.setValue(run.id, '__proto__', { safe: true });
        await storage.setValue(run.id, 'constructor', 'fine');

        const back = (await storage.getValue(run.id, 'hostile')) as Record<string, unknown>;
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect((Object.prototype as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.getPrototypeOf(back)).toBe(Object.prototype);
        expect(Object.prototype.hasOwnProperty.call(back, '__proto__')).toBe(true);
        expect(Object.getOwnPropertyDescriptor(back, '__proto__')?.value).toEqual({ polluted: 1 });
        expect(back.polluted).toBeUndefined();
        expect(JSON.stringify(back)).toBe(JSON.stringify(hostile));

        expect(await storage.getValue(run.id, '__proto__')).toEqual({ safe: true });
        expect(await storage.getValue(run.id, 'constructor')).toBe('fine');
        expect(await storage.getValue(run.id, 'toString')).toBeUndefined();
      });

      it('round-trips "__proto__" keys in run records too', async () => {
        const input = JSON.parse('{"__proto__":{"polluted":1},"a":1}') as object;
        const [run] = await insert(makeRun({ definitionId: DEF, input, context: JSON.parse('{"__proto__":{"polluted":1}}') as Record<string, unknown> }));
        const back = await storage.getRun(run.id);
        expect(JSON.stringify(back?.input)).toBe(JSON.stringify(input));
        expect(Object.getPrototypeOf(back?.input)).toBe(Object.prototype);
        expect((back?.input as Record<string, unknown>).polluted).toBeUndefined();
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });

      it('accepts user-named ids such as "__proto__" for definitions, keys and schedules', async () => {
        const [run] = await insert(makeRun({ definitionId: '__proto__', key: '__proto__' }));
        expect((await storage.insertRuns([makeRun({ definitionId: '__proto__', key: '__proto__' })]))[0].created).toBe(false);
        expect((await storage.countPending()).get('__proto__')).toBe(1);
        await storage.setDefinitionDisabled('constructor', true);
        expect(await storage.getDisabledDefinitions()).toEqual(new Set(['constructor']));
        expect(ids(await claim({ slots: [slot('__proto__'), slot('constructor')] }))).toEqual([run.id]);
        expect(await storage.recordScheduleTick('__proto__', '__proto__')).toBe(true);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });
    });

    // ------------------------------------------------------------ schedule ticks

    describe('recordScheduleTick', () => {
      it('is true for the first record of a (schedule, tick) only', async () => {
        expect(await storage.recordScheduleTick('s1', iso(T))).toBe(true);
        expect(await storage.recordScheduleTick('s1', iso(T))).toBe(false);
        expect(await storage.recordScheduleTick('s1', iso(T + 1000))).toBe(true);
        expect(await storage.recordScheduleTick('s2', iso(T))).toBe(true);
      });

      it('is true for exactly one of many concurrent callers', async () => {
        const results = await Promise.all(Array.from({ length: 20 }, () => storage.recordScheduleTick('s', iso(T))));
        expect(results.filter(Boolean)).toHaveLength(1);
      });
    });

    describe('lastScheduleTick', () => {
      it('is the latest tick recorded for the schedule, whatever the order of the records; null for none', async () => {
        expect(await storage.lastScheduleTick('s1')).toBeNull();
        await storage.recordScheduleTick('s1', iso(T + 60_000));
        await storage.recordScheduleTick('s1', iso(T));
        await storage.recordScheduleTick('s2', iso(T + 120_000));
        expect(await storage.lastScheduleTick('s1')).toBe(iso(T + 60_000));
        expect(await storage.lastScheduleTick('s2')).toBe(iso(T + 120_000));
        expect(await storage.lastScheduleTick('s3')).toBeNull();
        expect(await storage.lastScheduleTick('__proto__')).toBeNull();
      });

      it('stays the latest after many more ticks', async () => {
        for (let i = 0; i < 1200; i++) await storage.recordScheduleTick('s', iso(T + i * 1000));
        expect(await storage.lastScheduleTick('s')).toBe(iso(T + 1199 * 1000));
      });
    });

    // ------------------------------------------------------------ retention

    describe('deleteFinishedBefore', () => {
      it('deletes finished runs older than the date with their logs and values, up to the limit', async () => {
        const cut = iso(T);
        const parked = await running({ createdOn: iso(T - 100_000) });
        const old = [1, 2, 3].map((i) => makeRun({ definitionId: DEF, status: 'success', finishedOn: iso(T - i * 1000) }));
        const recent = makeRun({ definitionId: DEF, status: 'failed', finishedOn: iso(T + 1000) });
        const pending = makeRun({ definitionId: DEF, createdOn: iso(T - 100_000) });
        await insert(...old, recent, pending);
        const line = (runId: string): RunLog => ({ runId, type: 'info', message: 'x', createdOn: iso(T - 5000) });
        await storage.appendLogs([line(old[0].id), line(recent.id)], 10);
        await storage.setValue(old[0].id, 'k', 1);
        await storage.setValue(recent.id, 'k', 2);

        expect(await storage.deleteFinishedBefore(cut, 2)).toBe(2);
        expect(await storage.deleteFinishedBefore(cut, 2)).toBe(1);
        expect(await storage.deleteFinishedBefore(cut, 2)).toBe(0);

        for (const run of old) expect(await storage.getRun(run.id)).toBeNull();
        expect((await storage.listLogs({ runId: old[0].id })).items).toEqual([]);
        expect(await storage.getValue(old[0].id, 'k')).toBeUndefined();
        expect(await storage.getRun(recent.id)).not.toBeNull();
        expect((await storage.listLogs({ runId: recent.id })).items).toHaveLength(1);
        expect(await storage.getValue(recent.id, 'k')).toBe(2);
        expect((await storage.getRun(pending.id))?.status).toBe('pending');
        expect((await storage.getRun(parked.id))?.status).toBe('running');
        expect(sorted(ids((await storage.listRuns({})).items))).toEqual(sorted([recent.id, pending.id, parked.id]));
      });
    });

    // ------------------------------------------------------------ countPending

    describe('countPending', () => {
      it('counts pending runs per definition, delayed and held ones included', async () => {
        const [first] = await insert(makeRun({ definitionId: DEF }), makeRun({ definitionId: DEF }));
        await insert(makeRun({ definitionId: DEF, after: first.id }), makeRun({ definitionId: OTHER, dueAt: T + 99_999 }), makeRun({ definitionId: OTHER }));
        await insert(makeRun({ definitionId: 'conf.done', status: 'success', finishedOn: iso(T) }));
        const counts = await storage.countPending();
        expect(counts.get(DEF)).toBe(3);
        expect(counts.get(OTHER)).toBe(2);
        expect(counts.get('conf.done') ?? 0).toBe(0);

        await claim({ limit: 1 });
        const [otherRun] = (await storage.listRuns({ definition: OTHER, status: 'pending' })).items;
        await storage.requestAbort(otherRun.id, 'x', iso(T));
        const after = await storage.countPending();
        expect(after.get(DEF)).toBe(2);
        expect(after.get(OTHER)).toBe(1);
      });
    });

    // ------------------------------------------------------------ retries

    describe('retries', () => {
      it('stores the retry fields of a run and gives them back unchanged', async () => {
        const run = makeRun({
          definitionId: DEF,
          status: 'failed',
          retries: 2,
          retryOf: 'older-run',
          retryPolicy: { attempts: 5, backoff: { type: 'exponential', delay: 100, maxDelay: 5000, jitter: true } },
          originalInput: { as: 'triggered', list: [1, { two: 2 }] },
          iterationBase: 3,
          iterations: 4,
          finishedOn: iso(T),
        });
        const [result] = await storage.insertRuns([run]);
        expect(result.run).toEqual(run);
        expect(await storage.getRun(run.id)).toEqual(run);
        expect((await storage.listRuns({ definition: DEF })).items).toEqual([run]);
      });

      it('a retry update puts the run back to pending at dueAt: retries+1, iterationBase = iterations, the error kept, the claim not undone', async () => {
        const run = await running({ input: { n: 1 } });
        const error = { message: 'flaky', code: 'E_FLAKY', stack: 'Error: flaky' };
        const result = await update(run, { status: 'pending', retry: true, dueAt: T + 5000, error, progress: { current: 1 } });
        if (!result.ok) throw new Error(result.reason);
        expect(result.run).toMatchObject({
          status: 'pending',
          retries: 1,
          iterationBase: 1,
          iterations: 1,
          attempt: 1,
          error,
          dueAt: T + 5000,
          startedOn: iso(T),
          nodeId: 'node-a',
        });
        expect(result.run.leaseToken).toBeUndefined();
        expect(result.run.finishedOn).toBeUndefined();
        expect(await storage.getRun(run.id)).toEqual(result.run);
        expect((await storage.countPending()).get(DEF)).toBe(1);
        // its old lease is gone, and it is not due before its time
        expect(await update(run, { status: 'success' })).toEqual({ ok: false, reason: 'lease_lost' });
        expect(await claim({ now: T + 4999 })).toEqual([]);
        const [again] = await claim({ now: T + 5000, nodeId: 'node-b' });
        expect(again).toMatchObject({
          id: run.id,
          status: 'running',
          retries: 1,
          iterationBase: 1,
          iterations: 2,
          attempt: 2,
          recoveries: 0,
          nodeId: 'node-b',
          input: { n: 1 },
        });
        // a second retry from a later iteration moves the base again; a continue() does not
        const parked = await update(again, { status: 'running', dueAt: T + 5000 });
        expect(parked.ok && parked.run).toMatchObject({ retries: 1, iterationBase: 1 });
        const [third] = await claim({ now: T + 5000 });
        const second = await update(third, { status: 'pending', retry: true, dueAt: T + 6000, error });
        expect(second.ok && second.run).toMatchObject({ retries: 2, iterationBase: 3, iterations: 3 });
        // the final outcome keeps the counters
        const [last] = await claim({ now: T + 6000 });
        const done = await update(last, { status: 'success', output: 1, finishedOn: iso(T + 6000) });
        expect(done.ok && done.run).toMatchObject({ status: 'success', retries: 2, iterationBase: 3, iterations: 4, attempt: 3 });
        // a success clears the error of the failure it was retried after; a final failure replaces it
        expect(done.ok && done.run.error).toBeUndefined();
        expect((await storage.getRun(run.id))?.error).toBeUndefined();
        const other = await running();
        const retried = await update(other, { status: 'pending', retry: true, dueAt: T, error });
        expect(retried.ok && retried.run.error).toEqual(error);
        const [otherAgain] = await claim({ now: T });
        const failed = await update(otherAgain, { status: 'failed', error: { message: 'final' }, finishedOn: iso(T) });
        expect(failed.ok && failed.run).toMatchObject({ status: 'failed', retries: 1, error: { message: 'final' } });
      });

      it('applies retries in a batch with other outcomes, each as stored', async () => {
        await storage.insertRuns(Array.from({ length: 4 }, () => makeRun({ definitionId: DEF })));
        const claimed = await claim();
        const results = await storage.updateIterations(
          claimed.map((c, i) =>
            i % 2 === 0
              ? { id: c.id, leaseToken: c.leaseToken!, status: 'pending' as const, retry: true, dueAt: T + 100, error: { message: `e${i}` } }
              : { id: c.id, leaseToken: c.leaseToken!, status: 'success' as const, output: i, finishedOn: iso(T) },
          ),
        );
        for (const [i, r] of results.entries()) {
          if (!r.ok) throw new Error(r.reason);
          expect(r.run).toEqual(await storage.getRun(claimed[i].id));
          expect(r.run.retries).toBe(i % 2 === 0 ? 1 : 0);
          expect(r.run.status).toBe(i % 2 === 0 ? 'pending' : 'success');
        }
      });

      it('keeps the input as triggered in originalInput when an update first changes input, and only then', async () => {
        const run = await running({ input: { step: 0, as: 'triggered' } });
        expect(run.originalInput).toBeUndefined();
        const first = await update(run, { status: 'running', dueAt: T, input: { step: 1, as: 'triggered' } });
        expect(first.ok && first.run).toMatchObject({ input: { step: 1, as: 'triggered' }, originalInput: { step: 0, as: 'triggered' } });
        const [again] = await claim();
        const second = await update(again, { status: 'running', dueAt: T, input: { step: 2, as: 'triggered' } });
        expect(second.ok && second.run).toMatchObject({ input: { step: 2, as: 'triggered' }, originalInput: { step: 0, as: 'triggered' } });
        const [third] = await claim();
        const done = await update(third, { status: 'success', output: 'ok', finishedOn: iso(T) });
        expect(done.ok && done.run.originalInput).toEqual({ step: 0, as: 'triggered' });
        expect((await storage.getRun(run.id))?.originalInput).toEqual({ step: 0, as: 'triggered' });
        // a run whose input never changed keeps none
        const plain = await running({ input: { x: 1 } });
        const ended = await update(plain, { status: 'success', finishedOn: iso(T) });
        expect(ended.ok && ended.run.originalInput).toBeUndefined();
      });
    });

    // ------------------------------------------------------------ deleteRun

    describe('deleteRun', () => {
      const line = (runId: string): RunLog => ({ runId, type: 'info', message: 'x', createdOn: iso(T) });
      const done = (partial: Partial<RunRecord> = {}) => makeRun({ definitionId: DEF, status: 'success', finishedOn: iso(T), ...partial });

      it('answers not_found for an unknown run', async () => {
        expect(await storage.deleteRun('no-such-run')).toEqual({ kind: 'not_found' });
      });

      it('deletes a finished run with its logs and values, and nothing else', async () => {
        const [a, b] = await insert(done(), done({ status: 'failed' }));
        await storage.appendLogs([line(a.id), line(a.id), line(b.id)], 10);
        await storage.setValue(a.id, 'k', 1);
        await storage.setValue(b.id, 'k', 2);
        expect(await storage.deleteRun(a.id)).toEqual({ kind: 'deleted', ids: [a.id] });
        expect(await storage.getRun(a.id)).toBeNull();
        expect((await storage.listLogs({ runId: a.id })).items).toEqual([]);
        expect(await storage.getValue(a.id, 'k')).toBeUndefined();
        expect(await storage.getEndedRuns([a.id])).toEqual({ ended: [], missing: [a.id] });
        expect(ids((await storage.listRuns({ definition: DEF })).items)).toEqual([b.id]);
        expect((await storage.listLogs({ runId: b.id })).items).toHaveLength(1);
        expect(await storage.getValue(b.id, 'k')).toBe(2);
        expect(await storage.deleteRun(a.id)).toEqual({ kind: 'not_found' });
      });

      it('refuses an unfinished run and changes nothing', async () => {
        const run = await running();
        const [pending] = await insert(makeRun({ definitionId: DEF }));
        const result = await storage.deleteRun(pending.id);
        expect(result).toMatchObject({ kind: 'unfinished', run: { id: pending.id, status: 'pending' } });
        expect(await storage.deleteRun(run.id)).toMatchObject({ kind: 'unfinished', run: { id: run.id, status: 'running' } });
        expect((await storage.getRun(pending.id))?.status).toBe('pending');
        expect((await storage.getRun(run.id))?.status).toBe('running');
      });

      it('deletes the descendants with the run, every level, and keeps its retries and other runs', async () => {
        const parent = done();
        const child1 = done({ parentId: parent.id, status: 'aborted' });
        const child2 = done({ parentId: parent.id, definitionId: OTHER });
        const grandchild = done({ parentId: child1.id, status: 'failed' });
        const retriedFrom = done({ retryOf: parent.id });
        const stranger = done();
        await insert(parent, child1, child2, grandchild, retriedFrom, stranger);
        await storage.appendLogs([line(grandchild.id)], 10);
        await storage.setValue(child2.id, 'k', 'v');
        const result = await storage.deleteRun(parent.id);
        if (result.kind !== 'deleted') throw new Error(result.kind);
        expect(result.ids[0]).toBe(parent.id);
        expect(sorted(result.ids)).toEqual(sorted([parent.id, child1.id, child2.id, grandchild.id]));
        for (const id of result.ids) expect(await storage.getRun(id)).toBeNull();
        expect((await storage.listLogs({ runId: grandchild.id })).items).toEqual([]);
        expect(await storage.getValue(child2.id, 'k')).toBeUndefined();
        expect((await storage.listRuns({ parentId: parent.id })).items).toEqual([]);
        expect(await storage.getRun(retriedFrom.id)).not.toBeNull();
        expect(await storage.getRun(stranger.id)).not.toBeNull();
      });

      it('refuses while a descendant has not ended, naming it, and deletes nothing', async () => {
        const parent = done();
        const child = done({ parentId: parent.id });
        const grandchild = makeRun({ definitionId: DEF, parentId: child.id, dueAt: T + 60_000 });
        await insert(parent, child, grandchild);
        const result = await storage.deleteRun(parent.id);
        expect(result).toMatchObject({ kind: 'unfinished', run: { id: grandchild.id, status: 'pending' } });
        for (const run of [parent, child, grandchild]) expect(await storage.getRun(run.id)).not.toBeNull();
        // once it has ended, the whole tree goes
        await storage.requestAbort(grandchild.id, 'x', iso(T));
        const again = await storage.deleteRun(parent.id);
        expect(again.kind === 'deleted' && sorted(again.ids)).toEqual(sorted([parent.id, child.id, grandchild.id]));
      });
    });

    // ------------------------------------------------------------ locals

    describe('locals', () => {
      it('reads an unknown local as { value: undefined, version: 0 }', async () => {
        expect(await storage.readLocal(DEF, 'nothing')).toEqual({ value: undefined, version: 0 });
        expect(await storage.listLocals(DEF)).toEqual(new Map());
      });

      it('writes and reads JSON values per definition and key; each write grows the version', async () => {
        const value = { list: [1, 'two', true, null, { deep: 1.5 }], s: 'é\u0000x' };
        expect(await storage.writeLocal({ definitionId: DEF, key: 'a', value })).toEqual({ ok: true, version: 1 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'b', value: 0 })).toEqual({ ok: true, version: 1 });
        expect(await storage.writeLocal({ definitionId: OTHER, key: 'a', value: 'other' })).toEqual({ ok: true, version: 1 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'b', value: null })).toEqual({ ok: true, version: 2 });
        expect(await storage.readLocal(DEF, 'a')).toEqual({ value, version: 1 });
        expect(await storage.readLocal(DEF, 'b')).toEqual({ value: null, version: 2 });
        expect(await storage.readLocal(OTHER, 'a')).toEqual({ value: 'other', version: 1 });
        expect(await storage.listLocals(DEF)).toEqual(
          new Map<string, unknown>([
            ['a', value],
            ['b', null],
          ]),
        );
        // copies: changing what was read changes nothing stored
        const read = (await storage.readLocal(DEF, 'a')).value as { list: unknown[] };
        read.list.push('x');
        expect((await storage.readLocal(DEF, 'a')).value).toEqual(value);
      });

      it('compare-and-set: written only at the expected version; 0 means never written', async () => {
        expect(await storage.writeLocal({ definitionId: DEF, key: 'n', value: 1, expectedVersion: 0 })).toEqual({ ok: true, version: 1 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'n', value: 99, expectedVersion: 0 })).toEqual({ ok: false, reason: 'conflict' });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'n', value: 99, expectedVersion: 2 })).toEqual({ ok: false, reason: 'conflict' });
        expect(await storage.readLocal(DEF, 'n')).toEqual({ value: 1, version: 1 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'n', value: 2, expectedVersion: 1 })).toEqual({ ok: true, version: 2 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'missing', value: 1, expectedVersion: 3 })).toEqual({ ok: false, reason: 'conflict' });
        expect(await storage.readLocal(DEF, 'missing')).toEqual({ value: undefined, version: 0 });
      });

      it('a delete keeps counting versions, so a stale compare-and-set never matches a key deleted and written again', async () => {
        await storage.writeLocal({ definitionId: DEF, key: 'k', value: 'first' });
        const stale = await storage.readLocal(DEF, 'k');
        expect(await storage.writeLocal({ definitionId: DEF, key: 'k', value: undefined })).toEqual({ ok: true, version: 2 });
        expect(await storage.readLocal(DEF, 'k')).toEqual({ value: undefined, version: 2 });
        expect((await storage.listLocals(DEF)).has('k')).toBe(false);
        expect(await storage.writeLocal({ definitionId: DEF, key: 'k', value: 'again', expectedVersion: 0 })).toEqual({ ok: false, reason: 'conflict' });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'k', value: 'again', expectedVersion: 2 })).toEqual({ ok: true, version: 3 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'k', value: 'lost', expectedVersion: stale.version })).toEqual({
          ok: false,
          reason: 'conflict',
        });
        expect(await storage.readLocal(DEF, 'k')).toEqual({ value: 'again', version: 3 });
      });

      it('treats "__proto__" and other user-chosen names as ordinary keys and definition ids', async () => {
        await storage.writeLocal({ definitionId: '__proto__', key: '__proto__', value: { polluted: 1 } });
        await storage.writeLocal({ definitionId: DEF, key: 'constructor', value: { prototype: { polluted: 1 } } });
        expect(await storage.readLocal('__proto__', '__proto__')).toEqual({ value: { polluted: 1 }, version: 1 });
        expect([...(await storage.listLocals(DEF)).keys()]).toEqual(['constructor']);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });

      it('concurrent read-modify-write loops lose no write (50 increments at once)', async () => {
        const increment = async () => {
          for (;;) {
            const { value, version } = await storage.readLocal(DEF, 'count');
            const result = await storage.writeLocal({
              definitionId: DEF,
              key: 'count',
              value: ((value as number | undefined) ?? 0) + 1,
              expectedVersion: version,
            });
            if (result.ok) return;
            await new Promise((r) => setTimeout(r, Math.random() * 5));
          }
        };
        await Promise.all(Array.from({ length: 50 }, increment));
        expect(await storage.readLocal(DEF, 'count')).toEqual({ value: 50, version: 50 });
      });
    });

    // ------------------------------------------------------------ restarts

    describe('restartDefinition and abortDefinitionRuns', () => {
      it('clears the definition locals (versions grow) and refuses writes of runs created before the cut-off', async () => {
        const oldRun = newRunId();
        const midRun = newRunId();
        await storage.writeLocal({ definitionId: DEF, key: 'a', value: 1 });
        await storage.writeLocal({ definitionId: DEF, key: 'b', value: 2 });
        await storage.writeLocal({ definitionId: DEF, key: 'gone', value: undefined });
        await storage.writeLocal({ definitionId: OTHER, key: 'a', value: 'kept' });
        const cutoff = newRunId();
        expect(await storage.restartDefinition(DEF, cutoff)).toEqual({ localsCleared: 2 });
        expect(await storage.listLocals(DEF)).toEqual(new Map());
        expect(await storage.readLocal(DEF, 'a')).toEqual({ value: undefined, version: 2 });
        expect(await storage.readLocal(OTHER, 'a')).toEqual({ value: 'kept', version: 1 });
        // a run created before the cut-off writes nothing more, conditionally or not
        expect(await storage.writeLocal({ definitionId: DEF, key: 'a', value: 9, writerRunId: oldRun })).toEqual({ ok: false, reason: 'restarted' });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'a', value: 9, expectedVersion: 2, writerRunId: oldRun })).toEqual({
          ok: false,
          reason: 'restarted',
        });
        expect(await storage.readLocal(DEF, 'a')).toEqual({ value: undefined, version: 2 });
        // runs after it, and writers that name no run, write
        const newRun = newRunId();
        expect(await storage.writeLocal({ definitionId: DEF, key: 'a', value: 3, expectedVersion: 2, writerRunId: newRun })).toEqual({ ok: true, version: 3 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'c', value: 4 })).toEqual({ ok: true, version: 1 });
        expect(await storage.writeLocal({ definitionId: OTHER, key: 'a', value: 'x', writerRunId: oldRun })).toEqual({ ok: true, version: 2 });
        // a later restart with an older cut-off keeps the newer one
        expect(await storage.restartDefinition(DEF, oldRun)).toEqual({ localsCleared: 2 });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'a', value: 5, writerRunId: midRun })).toEqual({ ok: false, reason: 'restarted' });
        expect(await storage.writeLocal({ definitionId: DEF, key: 'a', value: 5, writerRunId: newRun })).toEqual({ ok: true, version: 5 });
      });

      it('claims runs created before the cut-off with their abort requested, the others as usual', async () => {
        const [before] = await insert(makeRun({ definitionId: DEF }));
        const [parkedBefore] = await insert(makeRun({ definitionId: DEF, status: 'running', iterations: 1, attempt: 1, dueAt: T - 1 }));
        const [otherDef] = await insert(makeRun({ definitionId: OTHER }));
        await storage.restartDefinition(DEF, newRunId());
        const [after] = await insert(makeRun({ definitionId: DEF }));
        const claimed = await claim({ slots: [slot(DEF), slot(OTHER)] });
        const byId = new Map(claimed.map((c) => [c.id, c]));
        expect(byId.get(before.id)?.abortRequested).toBe(true);
        expect(byId.get(parkedBefore.id)?.abortRequested).toBe(true);
        expect(byId.get(after.id)?.abortRequested).toBe(false);
        expect(byId.get(otherDef.id)?.abortRequested).toBe(false);
        expect((await storage.getRun(before.id))?.abortRequested).toBe(true);
        expect((await storage.getRun(after.id))?.abortRequested).toBe(false);
      });

      it('ends pending and parked runs below the cut-off, requests the abort of leased ones, page by page', async () => {
        const leased = await running();
        const requestedAlready = await running();
        await storage.requestAbort(requestedAlready.id, 'earlier', iso(T));
        const pendingA = makeRun({ definitionId: DEF });
        const delayed = makeRun({ definitionId: DEF, dueAt: T + 60_000 });
        const parked = makeRun({ definitionId: DEF, status: 'running', iterations: 1, attempt: 1, dueAt: T + 60_000 });
        const finished = makeRun({ definitionId: DEF, status: 'success', finishedOn: iso(T) });
        const elsewhere = makeRun({ definitionId: OTHER });
        await insert(pendingA, delayed, parked, finished, elsewhere);
        const cutoff = newRunId();
        const [later] = await insert(makeRun({ definitionId: DEF }));

        const aborted: RunRecord[] = [];
        const requested: RunRecord[] = [];
        for (let page = 0; page < 10; page++) {
          const result = await storage.abortDefinitionRuns({ definitionId: DEF, before: cutoff, message: 'restarted', now: iso(T + 1), limit: 2 });
          expect(result.aborted.length + result.requested.length).toBeLessThanOrEqual(2);
          if (result.aborted.length + result.requested.length === 0) break;
          aborted.push(...result.aborted);
          requested.push(...result.requested);
        }
        expect(sorted(ids(aborted))).toEqual(sorted([pendingA.id, delayed.id, parked.id]));
        for (const run of aborted) {
          expect(run).toMatchObject({ status: 'aborted', error: { message: 'restarted', code: 'ABORTED' }, finishedOn: iso(T + 1) });
          expect(run.leaseToken).toBeUndefined();
          expect(await storage.getRun(run.id)).toEqual(run);
        }
        expect(ids(requested)).toEqual([leased.id]);
        expect(requested[0]).toMatchObject({ status: 'running', abortRequested: true, leaseToken: leased.leaseToken });
        // the holder learns it at its next renewal, and can still end the run
        expect((await storage.renewLeases('node-a', [{ id: leased.id, leaseToken: leased.leaseToken! }], T, 30_000)).abortRequested).toEqual([leased.id]);
        expect((await update(leased, { status: 'aborted', finishedOn: iso(T) })).ok).toBe(true);
        // untouched: finished, already requested, another definition, created after the cut-off
        expect((await storage.getRun(finished.id))?.status).toBe('success');
        expect((await storage.getRun(requestedAlready.id))?.error).toBeUndefined();
        expect((await storage.getRun(elsewhere.id))?.status).toBe('pending');
        expect((await storage.getRun(later.id))?.status).toBe('pending');
        expect((await storage.countPending()).get(DEF)).toBe(1);
        // ended runs free their idempotency keys and release the runs waiting for them
        const keyed = await insert(makeRun({ definitionId: DEF, key: 'k1' }));
        const waiting = await insert(makeRun({ definitionId: OTHER, after: keyed[0].id }));
        await storage.abortDefinitionRuns({ definitionId: DEF, before: newRunId(), message: 'again', now: iso(T), limit: 100 });
        expect((await storage.insertRuns([makeRun({ definitionId: DEF, key: 'k1' })]))[0].created).toBe(true);
        expect(ids(await claim({ slots: [slot(OTHER)] }))).toEqual(expect.arrayContaining([waiting[0].id]));
      });
    });
  });
}
