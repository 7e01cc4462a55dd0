/**
 * PostgreSQL distribution and claims, against a real server over TCP: LISTEN/NOTIFY wake-ups,
 * abort and finish broadcasts, the node registry, a killed and a half-open LISTEN link, concurrent
 * migrations, schema-too-new refusal, and claims from concurrent nodes.
 */
import { SchemaTooNewError, StorageError } from '../../src/api/errors';
import { postgresDistribution, postgresStorage, type PostgresDistribution, type PostgresStorage } from '../../src/adapters/postgres';
import { LATEST_SCHEMA_VERSION } from '../../src/adapters/postgres/postgres-migrations';
import type { RunRecord } from '../../src/ports/run-record';
import { makeRun } from '../helpers/make-run';
import { recordingHost, type RecordingHost } from '../helpers/postgres-host';
import { expectMostWithin } from '../helpers/latency';
import { startPgProxy } from '../helpers/postgres-proxy';
import { describeWithPostgres, freshPgSchema, PG_URL, terminateBackends, withPg } from '../helpers/services';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describeWithPostgres('PostgreSQL distribution', () => {
  let schema: string;
  let drop: () => Promise<void>;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    ({ schema, drop } = await freshPgSchema());
  });

  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
    await drop();
  });

  function storage(options: { poolSize?: number } = {}): PostgresStorage {
    const s = postgresStorage({ connectionString: PG_URL, schema, ...options });
    cleanups.push(() => s.close());
    return s;
  }

  async function node(
    nodeId: string,
    options: {
      accept?: { include?: string[]; exclude?: string[] };
      heartbeatMs?: number;
      nodeTtlMs?: number;
      pollMs?: number;
      url?: string;
      listenerTimeoutMs?: number;
    } = {},
  ): Promise<{ dist: PostgresDistribution; host: RecordingHost; storage: PostgresStorage }> {
    const st = storage();
    await st.init();
    const dist = postgresDistribution({
      connectionString: options.url ?? PG_URL,
      heartbeatMs: options.heartbeatMs ?? 2000,
      nodeTtlMs: options.nodeTtlMs,
      pollMs: options.pollMs ?? 60_000, // the safety poll must not be what delivers in these tests
      listenerTimeoutMs: options.listenerTimeoutMs,
      applicationName: schema, // connections of this test are told apart in pg_stat_activity
    });
    const host = recordingHost(nodeId, st, options.accept);
    await dist.start(host);
    cleanups.push(() => dist.stop());
    return { dist, host, storage: st };
  }

  it('uses the storage schema and readable channel names', async () => {
    const a = await node('a');
    expect(a.dist.schemaName).toBe(schema);
    expect(a.dist.channelNames).toEqual({
      wake: `${schema}.wake`,
      abort: `${schema}.abort`,
      finish: `${schema}.finish`,
      restart: `${schema}.restart`,
      events: `${schema}.events`,
      interest: `${schema}.interest`,
    });
    expect(a.dist.capabilities).toEqual({ multiNode: true });
  });

  it('tells every other node of a restart (definitionRestarted), not the publishing one; before start through a connection of its own', async () => {
    const a = await node('a');
    const b = await node('b');
    const c = await node('c');
    const atB = b.host.next('restart', (d) => d === 'x.job');
    const atC = c.host.next('restart', (d) => d === 'x.job');
    const t0 = performance.now();
    await a.dist.publishRestart('x.job');
    const reached = await Promise.all([atB, atC]);
    for (const at of reached) expect(at - t0).toBeLessThan(1000); // a NOTIFY, within ms when idle: a generous bound on a shared machine
    await sleep(100);
    expect(a.host.restarts).toEqual([]);
    expect(b.host.restarts.map((r) => r.definitionId)).toEqual(['x.job']);
    // a process that restarts a definition without starting its engine still tells the nodes
    const unstarted = postgresDistribution({ connectionString: PG_URL, schema, applicationName: schema });
    const fromUnstarted = [b, c].map((n) => n.host.next('restart', (d) => d === 'y.job'));
    await unstarted.publishRestart('y.job');
    await Promise.all(fromUnstarted); // each node hears it in its own time (c after b, on a busy machine)
    expect(c.host.restarts.map((r) => r.definitionId)).toEqual(['x.job', 'y.job']);
    expect(a.host.errors).toEqual([]);
  });

  it('wakes another node through NOTIFY when a run becomes runnable (no poll)', async () => {
    const a = await node('a');
    const b = await node('b');
    const wokeB = b.host.next('wake');
    const t0 = performance.now();
    a.dist.runnable([{ id: 'r1', definitionId: 'x.job', dueAt: Date.now() }]);
    const at = await wokeB;
    // polls are a minute apart here: only the NOTIFY can have woken it (latency figures: npm run bench)
    expect(at - t0).toBeLessThan(1000);
    // the publisher wakes itself at once, without waiting for its echo
    expect(a.host.wakes.length).toBeGreaterThanOrEqual(1);
  });

  it('coalesces the notices of one tick into one NOTIFY', async () => {
    const a = await node('a');
    const b = await node('b');
    const before = b.host.wakes.length;
    for (let i = 0; i < 500; i++) a.dist.runnable([{ id: `r${i}`, definitionId: `d${i % 5}`, dueAt: Date.now() }]);
    await b.host.next('wake');
    await sleep(150);
    expect(b.host.wakes.length - before).toBe(1);
  });

  it("wakes a node when a delayed run comes due (local timer, from its own and other nodes' notices)", async () => {
    const a = await node('a');
    const b = await node('b');
    // due far enough ahead that a busy machine's late sleep(100) still looks before it
    const dueAt = Date.now() + 1500;
    const wokeA = a.host.next('wake', () => Date.now() >= dueAt, 5000);
    const wokeB = b.host.next('wake', () => Date.now() >= dueAt, 5000);
    a.dist.runnable([{ id: 'r1', definitionId: 'x.job', dueAt }]);
    await sleep(100);
    // nothing is due yet
    expect(Date.now()).toBeLessThan(dueAt);
    expect(b.host.wakes.length).toBe(1); // the start-up wake only
    await Promise.all([wokeA, wokeB]);
    const lateA = Date.now() - dueAt;
    // polls are a minute apart here: only the local timer can have woken it this close to its time
    expect(lateA).toBeLessThan(1000);
  });

  it('does not wake nodes whose accept rules exclude the definition', async () => {
    const a = await node('a');
    const b = await node('b', { accept: { include: ['billing.*'] } });
    const c = await node('c', { accept: { exclude: ['x.*'] } });
    const startB = b.host.wakes.length;
    const startC = c.host.wakes.length;
    const d = await node('d');
    const wokeD = d.host.next('wake');
    a.dist.runnable([{ id: 'r1', definitionId: 'x.job', dueAt: Date.now() }]);
    await wokeD;
    await sleep(100);
    expect(b.host.wakes.length).toBe(startB);
    expect(c.host.wakes.length).toBe(startC);
    const wokeB = b.host.next('wake');
    a.dist.runnable([{ id: 'r2', definitionId: 'billing.invoice', dueAt: Date.now() }]);
    await wokeB;
  });

  it('broadcasts aborts to every node within 100 ms (most; every one within a second), the publisher included, once each', async () => {
    const a = await node('a');
    const b = await node('b');
    const c = await node('c');
    // warm up the path (first NOTIFY of a connection)
    const warm = b.host.next('abort', (id) => id === 'warm');
    await a.dist.publishAbort('warm');
    await warm;
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const id = `run-${i}`;
      const got = [b.host.next('abort', (v) => v === id), c.host.next('abort', (v) => v === id)];
      const t0 = performance.now();
      await a.dist.publishAbort(id);
      const ats = await Promise.all(got);
      latencies.push(...ats.map((at) => at - t0));
    }
    expectMostWithin(latencies, 100); // exact figures: npm run bench (PostgreSQL abort latency)
    await sleep(100);
    for (const h of [a.host, b.host, c.host]) {
      const ids = h.aborts.map((x) => x.id);
      expect(ids.filter((x) => x === 'run-7')).toHaveLength(1);
    }
  });

  it('broadcasts finishes to every node, the publisher included, once each', async () => {
    const a = await node('a');
    const b = await node('b');
    const notices = Array.from({ length: 300 }, (_, i) => ({ id: `f${i}`.padEnd(26, '0'), definitionId: 'some.definition', status: 'success' as const }));
    const last = b.host.next('finish', (n) => (n as { id: string }).id === notices[299].id);
    await a.dist.publishFinished(notices);
    expect(a.host.finishes).toHaveLength(300); // delivered locally at once
    await last;
    await sleep(100);
    expect(b.host.finishes.map((f) => f.id)).toEqual(notices.map((n) => n.id));
    expect(a.host.finishes).toHaveLength(300); // its own echo ignored
    expect(b.host.finishes[0]).toMatchObject({ id: notices[0].id, definitionId: 'some.definition', status: 'success' });
  });

  it("does not decode other nodes' finishes while the host wants none, and wakes it instead", async () => {
    const a = await node('a');
    const b = await node('b');
    let wanted = false;
    b.host.wantsFinished = () => wanted;
    const wakesBefore = b.host.wakes.length;
    const woken = b.host.next('wake');
    await a.dist.publishFinished([{ id: 'x1'.padEnd(26, '0'), definitionId: 'some.definition', status: 'success' }]);
    await woken;
    await sleep(100);
    expect(b.host.finishes).toEqual([]);
    expect(b.host.wakes.length).toBeGreaterThan(wakesBefore);
    wanted = true;
    const got = b.host.next('finish');
    await a.dist.publishFinished([{ id: 'x2'.padEnd(26, '0'), definitionId: 'some.definition', status: 'failed' }]);
    await got;
    expect(b.host.finishes.map((f) => f.id)).toEqual(['x2'.padEnd(26, '0')]);
  });

  it('lists live nodes with their accept rules, and forgets a node whose heartbeat expired or that stopped', async () => {
    // a TTL well above the heartbeat, so a busy machine does not drop a live node; b heartbeats
    // seldom, so its heartbeat rarely lands between the change below and the read after it
    const a = await node('a', { heartbeatMs: 100, nodeTtlMs: 3000 });
    const b = await node('b', { heartbeatMs: 1000, nodeTtlMs: 3000, accept: { include: ['mail.*'] } });
    let nodes = await a.dist.liveNodes();
    expect(nodes.map((n) => n.nodeId)).toEqual(['a', 'b']);
    expect(nodes[1]).toMatchObject({ nodeId: 'b', version: 'test', accept: { include: ['mail.*'] } });
    expect(typeof nodes[1].heartbeatOn).toBe('string');

    // a node that stops heartbeating (as if frozen) drops out after the TTL: listed again only
    // with a heartbeat made after its expired one ...
    const expiredAt = Date.now();
    await withPg((c) => c.query(`update "${schema}".nodes set heartbeat_at = now() - interval '1 hour' where node_id = 'b'`));
    nodes = await a.dist.liveNodes();
    expect(nodes.map((n) => n.nodeId)).toContain('a');
    for (const n of nodes.filter((x) => x.nodeId === 'b')) expect(Date.parse(n.heartbeatOn as string)).toBeGreaterThanOrEqual(expiredAt - 1000);
    // ... and comes back with its next heartbeat
    await waitFor(async () => (await a.dist.liveNodes()).some((n) => n.nodeId === 'b'), 5000, 'b to heartbeat again');

    // a distribution not started yet (trigger before start) reads the registry too
    const unstarted = postgresDistribution({ connectionString: PG_URL, schema, nodeTtlMs: 3000 });
    expect((await unstarted.liveNodes()).map((n) => n.nodeId)).toEqual(['a', 'b']);
    expect(await postgresDistribution({ connectionString: PG_URL, schema: 'tl_test_no_such_schema' }).liveNodes()).toEqual([]);

    // a stopped node is removed at once
    await b.dist.stop();
    nodes = await a.dist.liveNodes();
    expect(nodes.map((n) => n.nodeId)).toEqual(['a']);
  });

  it('replaces a LISTEN connection killed with pg_terminate_backend, without duplicate subscriptions', async () => {
    const a = await node('a');
    // the kill is seen through the connection's error, not a late answer to the liveness check:
    // that check is given 5 s, so a busy machine does not replace the link once more
    const b = await node('b', { heartbeatMs: 200, listenerTimeoutMs: 5000 });
    const pid = b.dist.listenerPid;
    expect(pid).toBeDefined();
    const errored = b.host.next('error');
    expect(await terminateBackends({ pids: [pid as number] })).toBe(1);
    await errored;
    await waitFor(() => b.dist.listenerStats.connected && b.dist.listenerPid !== pid, 5000, 'the listener to reconnect');
    expect(b.dist.listenerStats.connects).toBe(2);
    // notifications flow again, exactly once each
    const got = b.host.next('abort', (v) => v === 'after-kill');
    await a.dist.publishAbort('after-kill');
    await got;
    await sleep(100);
    expect(b.host.aborts.filter((x) => x.id === 'after-kill')).toHaveLength(1);
    // the killed backend may still be listed while it exits (on a busy server, for a while): the
    // others are the listeners, one per node
    const listens = await withPg((c) =>
      c.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where application_name like $1 and datname = current_database() and pid <> $2`, [
        `${schema}-listener:%`,
        pid,
      ]),
    );
    expect(listens.rows[0].n).toBe(2); // one per node
  });

  it('detects a half-open LISTEN link (blackholed) within two heartbeats and replaces it', async () => {
    const proxy = await startPgProxy(PG_URL);
    cleanups.push(() => proxy.close());
    const a = await node('a');
    const b = await node('b', { heartbeatMs: 300, url: proxy.url });
    const before = b.dist.listenerStats.connects;
    expect(proxy.blackhole()).toBeGreaterThan(0);
    const t0 = performance.now();
    const detected = await b.host.next('error', undefined, 3000);
    // detected within two heartbeats (a margin of a second for a busy machine), then replaced
    expect(detected - t0).toBeLessThan(2 * 300 + 1000);
    await waitFor(() => b.dist.listenerStats.connects > before && b.dist.listenerStats.connected, 5000, 'a new listener');
    const got = b.host.next('abort', (v) => v === 'after-blackhole');
    await a.dist.publishAbort('after-blackhole');
    await got;
  });

  it('replays to a node the finishes it missed while its LISTEN link was half-open, once each', async () => {
    const proxy = await startPgProxy(PG_URL);
    cleanups.push(() => proxy.close());
    const a = await node('a');
    const b = await node('b', { heartbeatMs: 300, url: proxy.url });
    const inserted = await a.storage.insertRuns(Array.from({ length: 5 }, () => makeRun({ definitionId: 'replay.me' })));
    const claimed = await a.storage.claimRuns({ nodeId: 'a', now: Date.now(), leaseMs: 10_000, limit: 10, slots: [{ definitionId: 'replay.me', max: 10 }] });
    expect(claimed).toHaveLength(5);
    proxy.blackhole();
    const done = await a.storage.updateIterations(
      claimed.map((r) => ({ id: r.id, leaseToken: r.leaseToken as string, status: 'success', finishedOn: new Date().toISOString() })),
    );
    expect(done.every((d) => d.ok)).toBe(true);
    await a.dist.publishFinished(claimed.map((r) => ({ id: r.id, definitionId: r.definitionId, status: 'success' })));
    await waitFor(() => b.host.finishes.length >= 5, 8000, 'the replay of missed finishes');
    await sleep(200);
    expect(b.host.finishes.map((f) => f.id).sort()).toEqual(inserted.map((r) => r.run.id).sort());
  });

  it('reports faults through host.error and never throws at the host when the database goes away briefly', async () => {
    const a = await node('a', { heartbeatMs: 100 });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      for (let i = 0; i < 3; i++) {
        await terminateBackends({ applicationName: `${schema}-distribution:a` });
        await terminateBackends({ applicationName: `${schema}-listener:a` });
        await sleep(150);
      }
      await waitFor(() => a.dist.listenerStats.connected, 5000, 'the listener to come back');
      const nodes = await a.dist.liveNodes();
      expect(nodes.map((n) => n.nodeId)).toContain('a');
      expect(a.host.errors.length).toBeGreaterThan(0);
      expect(a.host.errors.every((e) => e instanceof StorageError)).toBe(true);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });

  it('leaves no timers, clients or sockets after stop(), and can start again', async () => {
    const st = storage();
    await st.init();
    const dist = postgresDistribution({ connectionString: PG_URL, heartbeatMs: 50, pollMs: 50, applicationName: schema });
    const host = recordingHost('solo', st);
    const before = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
    for (let i = 0; i < 3; i++) {
      await dist.start(host);
      dist.runnable([{ id: 'x', definitionId: 'd', dueAt: Date.now() + 60_000 }]);
      await dist.publishAbort('y');
      await dist.stop();
      await dist.stop(); // idempotent
    }
    await sleep(50);
    const after = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap').length;
    expect(after).toBeLessThanOrEqual(before);
    const left = await withPg((c) =>
      c.query<{ n: number }>(`select count(*)::int as n from pg_stat_activity where application_name like $1 and datname = current_database()`, [
        `${schema}-%`,
      ]),
    );
    expect(left.rows[0].n).toBe(0);
    expect(dist.listenerStats.connected).toBe(false);
  });

  it('refuses a storage that is not shared', async () => {
    const dist = postgresDistribution({ connectionString: PG_URL, schema });
    const fake = { capabilities: { durable: false, shared: false } } as unknown as PostgresStorage;
    await expect(dist.start(recordingHost('x', fake))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('migrates safely when 10 storages start at once on an empty schema', async () => {
    const storages = Array.from({ length: 10 }, () => storage({ poolSize: 2 }));
    await Promise.all(storages.map((s) => s.init()));
    const rows = await withPg((c) =>
      c.query<{ version: number; n: number }>(`select version, count(*)::int as n from "${schema}".migrations group by version order by version`),
    );
    expect(rows.rows).toEqual(Array.from({ length: LATEST_SCHEMA_VERSION }, (_, i) => ({ version: i + 1, n: 1 })));
    // and every one of them works
    const [run] = await storages[3].insertRuns([makeRun()]);
    expect(await storages[7].getRun(run.run.id)).toMatchObject({ id: run.run.id });
  });

  it('refuses a schema newer than the code (storage and distribution), and leaves it untouched', async () => {
    const first = storage();
    await first.init();
    await withPg((c) => c.query(`insert into "${schema}".migrations (version, name) values (999, 'from the future')`));
    const second = storage();
    const err = await second.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SchemaTooNewError);
    expect(err).toMatchObject({ code: 'SCHEMA_TOO_NEW' });
    expect((err as Error).message).toContain('999');
    const dist = postgresDistribution({ connectionString: PG_URL, schema });
    await expect(dist.start(recordingHost('n', first))).rejects.toBeInstanceOf(SchemaTooNewError);
    const versions = await withPg((c) => c.query<{ v: number }>(`select max(version) as v from "${schema}".migrations`));
    expect(versions.rows[0].v).toBe(999);
  });

  it('rejects an invalid schema name before any SQL', () => {
    for (const bad of ['Tasklane', 'a-b', 'x"; drop table y; --', '1abc', '', 'a'.repeat(64)]) {
      expect(() => postgresStorage({ connectionString: PG_URL, schema: bad })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
      expect(() => postgresDistribution({ connectionString: PG_URL, schema: bad })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });

  it('never hands a run to two of 4 concurrent claimers (2,000 runs), and keeps concurrency limits cluster-wide', async () => {
    const nodes = await Promise.all(
      ['n1', 'n2', 'n3', 'n4'].map(async (id) => ({
        id,
        st: await (async () => {
          const s = storage({ poolSize: 4 });
          await s.init();
          return s;
        })(),
      })),
    );
    const defs: Array<{ id: string; concurrency?: number }> = [{ id: 'serial', concurrency: 1 }, { id: 'three', concurrency: 3 }, { id: 'free' }];
    const runs: RunRecord[] = [];
    for (let i = 0; i < 2000; i++) runs.push(makeRun({ definitionId: defs[i % 3].id, input: { i } }));
    await nodes[0].st.insertRuns(runs);

    const claims = new Map<string, string[]>(); // run id -> claiming nodes
    const intervals: Record<string, Array<[number, number]>> = { serial: [], three: [], free: [] };
    const serialOrder: string[] = [];
    let finished = 0;

    async function claimer(n: { id: string; st: PostgresStorage }): Promise<void> {
      let idle = 0;
      while (finished < 2000 && idle < 200) {
        const got = await n.st.claimRuns({
          nodeId: n.id,
          now: Date.now(),
          leaseMs: 60_000,
          limit: 8,
          slots: defs.map((d) => ({ definitionId: d.id, max: d.concurrency ?? 8, concurrency: d.concurrency })),
        });
        const claimedAt = performance.now();
        if (got.length === 0) {
          idle++;
          await sleep(2);
          continue;
        }
        idle = 0;
        for (const r of got) {
          claims.set(r.id, [...(claims.get(r.id) ?? []), n.id]);
          expect(r.attempt).toBe(1);
          expect(r.iterations).toBe(1);
          if (r.definitionId === 'serial') serialOrder.push(r.id);
        }
        await sleep(Math.random() * 4);
        const releasedAt = performance.now();
        for (const r of got) intervals[r.definitionId].push([claimedAt, releasedAt]);
        const results = await n.st.updateIterations(
          got.map((r) => ({ id: r.id, leaseToken: r.leaseToken as string, status: 'success', finishedOn: new Date().toISOString() })),
        );
        expect(results.every((x) => x.ok)).toBe(true);
        finished += got.length;
      }
    }
    await Promise.all(nodes.map((n) => claimer(n)));

    expect(finished).toBe(2000);
    expect(claims.size).toBe(2000);
    expect([...claims.values()].filter((c) => c.length > 1)).toEqual([]);
    // the intervals [claim returned, completion sent] lie inside the time each run was running in the
    // database, so their overlap is a lower bound of the cluster-wide concurrency
    const maxOverlap = (list: Array<[number, number]>) => {
      const events = list.flatMap(([s, e]) => [[s, 1] as const, [e, -1] as const]).sort((x, y) => x[0] - y[0] || x[1] - y[1]);
      let cur = 0;
      let max = 0;
      for (const [, d] of events) max = Math.max(max, (cur += d));
      return max;
    };
    expect(maxOverlap(intervals.serial)).toBe(1);
    expect(maxOverlap(intervals.three)).toBeLessThanOrEqual(3);
    expect(maxOverlap(intervals.free)).toBeGreaterThan(3);
    // concurrency 1 runs in trigger order, cluster-wide
    expect(serialOrder).toEqual([...serialOrder].sort());
    // every claimer got work
    const perNode = new Map<string, number>();
    for (const c of claims.values()) perNode.set(c[0], (perNode.get(c[0]) ?? 0) + 1);
    expect(perNode.size).toBe(4);
  });
});
