/**
 * PostgreSQL storage beyond the shared conformance suite: connection faults (terminated backends,
 * a half-open link), exact JSON round-trips, hostile identifiers, and the rule that no SQL is built
 * from values.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StorageError, TasklaneError } from '../../src/api/errors';
import { postgresStorage, pgAdmin, type PostgresStorage } from '../../src/adapters/postgres';
import { RecentMap, RecentSet } from '../../src/adapters/postgres/bounded';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate } from '../../src/adapters/postgres/postgres-migrations';
import { makeRun } from '../helpers/make-run';
import { until } from '../helpers/wait';
import { startPgProxy } from '../helpers/postgres-proxy';
import { describeWithPostgres, freshPgSchema, PG_URL, terminateBackends, withPg } from '../helpers/services';

jest.setTimeout(60_000);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describeWithPostgres('PostgreSQL storage: faults, JSON and identifiers', () => {
  let schema: string;
  let drop: () => Promise<void>;
  const closers: Array<() => Promise<unknown>> = [];

  beforeEach(async () => {
    ({ schema, drop } = await freshPgSchema());
  });

  afterEach(async () => {
    for (const c of closers.splice(0).reverse()) await c().catch(() => undefined);
    await drop();
  });

  async function open(options: { url?: string; queryTimeoutMs?: number; poolSize?: number } = {}): Promise<PostgresStorage> {
    const s = postgresStorage({
      connectionString: options.url ?? PG_URL,
      schema,
      poolSize: options.poolSize ?? 4,
      queryTimeoutMs: options.queryTimeoutMs,
      applicationName: `${schema}-storage`,
    });
    closers.push(() => s.close());
    await s.init();
    return s;
  }

  it('survives its idle connections being terminated: the pool reconnects, the fault is reported', async () => {
    const st = await open();
    const faults: Error[] = [];
    st.onError((e) => faults.push(e));
    const [{ run }] = await st.insertRuns([makeRun()]);
    // open several connections, then kill them all while idle
    await Promise.all(Array.from({ length: 4 }, () => st.getRun(run.id)));
    expect(await terminateBackends({ applicationName: `${schema}-storage` })).toBeGreaterThan(0);
    // the idle clients hear of it when their backends have gone (not when the call above returns)
    await until(() => faults.length > 0, 10_000, 'a fault reported');
    expect(faults.every((f) => f instanceof StorageError)).toBe(true);
    expect(await st.getRun(run.id)).toMatchObject({ id: run.id });
    expect((await st.insertRuns([makeRun()]))[0].created).toBe(true);
  });

  it('under load with backends terminated again and again: only StorageErrors, no unhandled rejection, nothing lost that was acknowledged', async () => {
    const st = await open({ poolSize: 6 });
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    const acknowledged: string[] = [];
    const failures: unknown[] = [];
    let stop = false;
    const killer = (async () => {
      while (!stop) {
        await sleep(40);
        await terminateBackends({ applicationName: `${schema}-storage` }).catch(() => 0);
      }
    })();
    try {
      const writers = Array.from({ length: 6 }, async () => {
        for (let i = 0; i < 40; i++) {
          const batch = Array.from({ length: 20 }, () => makeRun({ definitionId: 'load' }));
          try {
            await st.insertRuns(batch);
            acknowledged.push(...batch.map((r) => r.id));
          } catch (err) {
            failures.push(err);
          }
          try {
            await st.countPending();
          } catch (err) {
            failures.push(err);
          }
        }
      });
      await Promise.all(writers);
    } finally {
      stop = true;
      await killer;
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
    for (const f of failures) {
      expect(f).toBeInstanceOf(StorageError);
      expect(TasklaneError.is(f)).toBe(true);
    }
    // everything acknowledged is there
    const found = await st.getRuns(acknowledged);
    expect(found.length).toBe(acknowledged.length);
  });

  it('drops a half-open connection after queryTimeoutMs and retries a read on a fresh one', async () => {
    const proxy = await startPgProxy(PG_URL);
    closers.push(() => proxy.close());
    const st = await open({ url: proxy.url, queryTimeoutMs: 500, poolSize: 1 });
    const [{ run }] = await st.insertRuns([makeRun()]);
    expect(proxy.blackhole()).toBe(1);
    const t0 = Date.now();
    expect(await st.getRun(run.id)).toMatchObject({ id: run.id });
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(450);
    expect(took).toBeLessThan(3000);
  });

  it('surfaces a write on a half-open link as a StorageError (it may or may not have been applied)', async () => {
    const proxy = await startPgProxy(PG_URL);
    closers.push(() => proxy.close());
    const st = await open({ url: proxy.url, queryTimeoutMs: 500, poolSize: 1 });
    await st.getRun('warm-up');
    proxy.blackhole();
    await expect(st.recordScheduleTick('s', '2030-01-01T00:00:00.000Z')).rejects.toBeInstanceOf(StorageError);
    // and the storage works again afterwards
    expect(await st.recordScheduleTick('s', '2030-01-01T00:00:01.000Z')).toBe(true);
  });

  it('round-trips JSON exactly: NUL and unicode in strings, JSON null vs absent, numbers, nesting, key order', async () => {
    const st = await open();
    const input = {
      z: 1,
      a: 'nul:\u0000 emoji:😀 rtl:\u202e quote:" backslash:\\ newline:\n',
      nested: { deep: [[[{ x: null }]]], big: 1e300, small: -1.5e-300, int: 9007199254740991 },
      empty: {},
      list: [],
      t: true,
      f: false,
      n: null,
    };
    const run = makeRun({ input, context: { tenant: "o'reilly; drop table x;--", locale: 'fr-CA' }, key: 'k\'"--;' });
    await st.insertRuns([run]);
    const back = await st.getRun(run.id);
    expect(back?.input).toEqual(input);
    expect(Object.keys(back?.input as object)).toEqual(Object.keys(input)); // json (not jsonb) keeps key order
    expect(back?.context).toEqual(run.context);
    expect(back?.key).toBe(run.key);
    expect(back && 'output' in back).toBe(false);

    await st.setValue(run.id, 'null', null);
    await st.setValue(run.id, 'str', 'a\u0000b');
    expect(await st.getValue(run.id, 'null')).toBeNull();
    expect(await st.getValue(run.id, 'str')).toBe('a\u0000b');
    expect(await st.getValue(run.id, 'absent')).toBeUndefined();

    await st.appendLogs(
      [
        { runId: run.id, type: 'info', message: 'no data', createdOn: new Date().toISOString() },
        { runId: run.id, type: 'warn', message: 'null data', data: null, createdOn: new Date().toISOString() },
      ],
      10,
    );
    const logs = (await st.listLogs({ runId: run.id })).items;
    expect('data' in logs[0]).toBe(false);
    expect(logs[1].data).toBeNull();
  });

  it('stores hostile identifiers as plain values', async () => {
    const st = await open();
    const nasty = [`'; drop table "${schema}".runs; --`, '"quoted"', '$1', '../x', '%_*', '💥'.repeat(100), '__proto__'];
    for (const value of nasty) {
      const run = makeRun({ definitionId: value, name: value, key: value, parentId: value });
      const [{ created }] = await st.insertRuns([run]);
      expect(created).toBe(true);
      expect(await st.findUnfinishedByKey(value, value)).toMatchObject({ id: run.id, definitionId: value });
      const claimed = await st.claimRuns({ nodeId: value, now: Date.now(), leaseMs: 1000, limit: 5, slots: [{ definitionId: value, max: 5, concurrency: 1 }] });
      expect(claimed.map((r) => r.id)).toEqual([run.id]);
      await st.setDefinitionDisabled(value, true);
      expect((await st.getDisabledDefinitions()).has(value)).toBe(true);
      expect(await st.recordScheduleTick(value, value)).toBe(true);
    }
    const count = await withPg((c) => c.query<{ n: number }>(`select count(*)::int as n from "${schema}".runs`));
    expect(count.rows[0].n).toBe(nasty.length);

    // PostgreSQL text cannot hold NUL: refused clearly on write, "not found" on read
    await expect(st.insertRuns([makeRun({ key: 'a\u0000b' })])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(st.insertRuns([makeRun({ definitionId: 'x\ud800' })])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await st.getRun('a\u0000b')).toBeNull();
    expect(await st.findUnfinishedByKey('d', 'a\u0000b')).toBeNull();
    expect(await st.requestAbort('a\u0000b', 'x', new Date().toISOString())).toEqual({ kind: 'not_found' });
    // a log message is free text: what cannot be stored is replaced, the rest of the batch is kept
    const [{ run }] = await st.insertRuns([makeRun()]);
    expect(await st.appendLogs([{ runId: run.id, type: 'info', message: 'bad\u0000\ud800 end', createdOn: new Date().toISOString() }], 5)).toBe(1);
    expect((await st.listLogs({ runId: run.id })).items[0].message).toBe('bad\ufffd\ufffd end');
  });

  it('answers a completion with the stored row, whether or not this storage made the claim, with what others wrote under the lease', async () => {
    const claimer = await open();
    const other = await open();
    const T = Date.now();
    const slots = [{ definitionId: 'test.def', max: 10 }];
    await claimer.insertRuns([makeRun({ input: { a: 1 }, context: { tenant: 't' } }), makeRun({ input: { b: [1, null] } }), makeRun()]);
    const claimed = await claimer.claimRuns({ nodeId: 'n1', now: T, leaseMs: 60_000, limit: 10, slots });
    expect(claimed).toHaveLength(3);
    const [a, b, c] = claimed;
    // written by others while the runs are leased: an abort request, progress, log lines
    expect((await other.requestAbort(a.id, 'stop', new Date().toISOString())).kind).toBe('requested');
    await other.saveProgress(b.id, { info: 'half', current: 1, total: 2 });
    expect(await other.appendLogs([{ runId: c.id, type: 'info', message: 'x', createdOn: new Date().toISOString() }], 10)).toBe(1);
    await claimer.renewLeases(
      'n1',
      claimed.map((r) => ({ id: r.id, leaseToken: r.leaseToken! })),
      T + 1000,
      60_000,
    );
    const fin = new Date().toISOString();
    const updates = [
      { id: a.id, leaseToken: a.leaseToken!, status: 'aborted' as const, error: { message: 'stop', code: 'ABORTED' }, finishedOn: fin },
      { id: b.id, leaseToken: b.leaseToken!, status: 'running' as const, dueAt: T + 5000, input: { b: [1, null], more: 'x' } },
      { id: c.id, leaseToken: c.leaseToken!, status: 'success' as const, output: { ok: true, n: null }, finishedOn: fin },
    ];
    // this storage claimed a and c; b goes through the other one (which did not claim it)
    const [ra, rc] = await claimer.updateIterations([updates[0], updates[2]]);
    const [rb] = await other.updateIterations([updates[1]]);
    for (const r of [ra, rb, rc]) expect(r.ok).toBe(true);
    const stored = await other.getRuns([a.id, b.id, c.id]);
    expect([ra, rb, rc].map((r) => (r.ok ? r.run : undefined))).toEqual(stored);
    expect(stored[0]).toMatchObject({ status: 'aborted', abortRequested: true });
    expect(stored[1]).toMatchObject({
      status: 'running',
      progress: { info: 'half', current: 1, total: 2 },
      input: { b: [1, null], more: 'x' },
      dueAt: T + 5000,
    });
    expect(stored[1].leaseToken).toBeUndefined();
    expect(stored[2]).toMatchObject({ status: 'success', output: { ok: true, n: null }, logCount: 1, finishedOn: fin });
    // the same leases again: refused, whichever path
    expect((await claimer.updateIterations([updates[0], updates[1]])).map((r) => (r.ok ? 'ok' : r.reason))).toEqual(['lease_lost', 'lease_lost']);
  });

  it('inserts a batch with a run id already stored: the others are created, that one reported as existing', async () => {
    const st = await open();
    const [first] = await st.insertRuns([makeRun({ input: { n: 1 } })]);
    // without idempotency keys (a plain insert first, refused as a whole, then one that skips conflicts)
    const again = await st.insertRuns([makeRun(), { ...first.run, input: { n: 2 } }, makeRun()]);
    expect(again.map((r) => r.created)).toEqual([true, false, true]);
    expect(again[1].run.input).toEqual({ n: 1 });
    // with one
    const keyed = await st.insertRuns([makeRun({ key: 'k1' }), { ...first.run, input: { n: 3 } }]);
    expect(keyed.map((r) => r.created)).toEqual([true, false]);
    expect(keyed[1].run.input).toEqual({ n: 1 });
    expect((await st.listRuns({ definition: 'test.def' })).items).toHaveLength(4);
  });

  it('answers each of many concurrent insert calls with its own runs, keys and duplicates settled across calls', async () => {
    const st = await open();
    const dup = makeRun({ input: { dup: true } });
    const calls = Array.from({ length: 12 }, (_, c) => [
      ...Array.from({ length: 250 }, () => makeRun({ input: { c } })),
      makeRun({ key: 'shared', input: { c } }),
      ...(c % 4 === 0 ? [{ ...dup }] : []),
    ]);
    const answers = await Promise.all(calls.map((runs) => st.insertRuns(runs)));
    answers.forEach((answer, c) => {
      expect(answer).toHaveLength(calls[c].length);
      answer.slice(0, 250).forEach((r, i) => expect(r).toEqual({ run: calls[c][i], created: true }));
    });
    const shared = answers.map((a) => a[250]);
    expect(shared.filter((r) => r.created)).toHaveLength(1);
    const holder = shared.find((r) => r.created)!.run;
    for (const r of shared) expect(r.run.id).toBe(holder.id);
    const dups = answers.filter((_, c) => c % 4 === 0).map((a) => a[251]);
    expect(dups.filter((r) => r.created)).toHaveLength(1);
    for (const r of dups) expect(r.run).toEqual(dup);
    expect((await st.countPending()).get('test.def')).toBe(12 * 250 + 2);
  });

  it("lists a definition's runs across statuses newest first, by status, and page by page", async () => {
    const st = await open();
    const T = Date.now();
    const runs = Array.from({ length: 9 }, (_, i) => makeRun({ id: `r${String(i).padStart(2, '0')}` }));
    await st.insertRuns([...runs, makeRun({ id: 'x00', definitionId: 'other.def' })]);
    // r00..r02 finish, r03..r05 run, r06..r08 stay pending
    const claimed = await st.claimRuns({ nodeId: 'n1', now: T, leaseMs: 60_000, limit: 6, slots: [{ definitionId: 'test.def', max: 6 }] });
    expect(claimed.map((r) => r.id)).toEqual(['r00', 'r01', 'r02', 'r03', 'r04', 'r05']);
    const fin = new Date().toISOString();
    await st.updateIterations(
      claimed.slice(0, 3).map((r, i) => ({ id: r.id, leaseToken: r.leaseToken!, status: (['success', 'failed', 'aborted'] as const)[i], finishedOn: fin })),
    );
    const ids = async (q: Parameters<PostgresStorage['listRuns']>[0]) => (await st.listRuns(q)).items.map((r) => r.id);
    expect(await ids({ definition: 'test.def' })).toEqual(['r08', 'r07', 'r06', 'r05', 'r04', 'r03', 'r02', 'r01', 'r00']);
    expect(await ids({ definition: 'test.def', status: 'running' })).toEqual(['r05', 'r04', 'r03']);
    expect(await ids({ definition: 'test.def', status: ['failed', 'pending'] })).toEqual(['r08', 'r07', 'r06', 'r01']);
    expect(await ids({ definition: 'test.def', status: ['success', 'aborted'] })).toEqual(['r02', 'r00']);
    expect(await ids({ definition: 'other.def' })).toEqual(['x00']);
    const pages: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await st.listRuns({ definition: 'test.def', limit: 4, cursor });
      pages.push(page.items.map((r) => r.id).join(','));
      cursor = page.cursor;
    } while (cursor);
    expect(pages).toEqual(['r08,r07,r06,r05', 'r04,r03,r02,r01', 'r00']);
  });

  it('brings a schema of version 2 up to date, keeping its runs (backfilled false)', async () => {
    await withPg(async (c) => {
      await migrate(
        c,
        schema,
        MIGRATIONS.filter((m) => m.version <= 2),
      );
      await c.query(
        `insert into "${schema}".runs (id, definition_id, name, status, input, created_on, due_at)
         values ('01aaaaaaaaaaaaaaaaaaaaaaaa', 'test.def', 'test.def', 'pending', '{}', $1, 0)`,
        [new Date().toISOString()],
      );
    });
    expect(await pgAdmin.schemaVersion({ connectionString: PG_URL, schema })).toEqual({ current: 2, latest: LATEST_SCHEMA_VERSION });
    const st = postgresStorage({ connectionString: PG_URL, schema });
    await st.init();
    try {
      const old = await st.getRun('01aaaaaaaaaaaaaaaaaaaaaaaa');
      expect(old).toMatchObject({ status: 'pending', input: {} });
      expect(old?.backfilled).toBeUndefined();
      const [claimed] = await st.claimRuns({ nodeId: 'n', now: Date.now(), leaseMs: 1000, limit: 5, slots: [{ definitionId: 'test.def', max: 5 }] });
      expect(claimed.id).toBe('01aaaaaaaaaaaaaaaaaaaaaaaa');
      expect((await pgAdmin.schemaVersion({ connectionString: PG_URL, schema })).current).toBe(LATEST_SCHEMA_VERSION);
    } finally {
      await st.close();
    }
  });

  it('brings a schema of version 3 up to date (migration 4): old runs get no retries, old definitions no cut-off; locals and restarts work', async () => {
    await withPg(async (c) => {
      await migrate(
        c,
        schema,
        MIGRATIONS.filter((m) => m.version <= 3),
      );
      await c.query(
        `insert into "${schema}".runs (id, definition_id, name, status, input, created_on, due_at, iterations, attempt)
         values ('01aaaaaaaaaaaaaaaaaaaaaaaa', 'test.def', 'test.def', 'pending', '{"n":1}', $1, 0, 0, 0)`,
        [new Date().toISOString()],
      );
      await c.query(`insert into "${schema}".definitions (definition_id, disabled) values ('other.def', true)`);
    });
    const st = postgresStorage({ connectionString: PG_URL, schema });
    await st.init();
    try {
      expect((await pgAdmin.schemaVersion({ connectionString: PG_URL, schema })).current).toBe(LATEST_SCHEMA_VERSION);
      const old = await st.getRun('01aaaaaaaaaaaaaaaaaaaaaaaa');
      expect(old).toMatchObject({ status: 'pending', input: { n: 1 }, retries: 0, iterationBase: 0 });
      expect(old?.retryOf).toBeUndefined();
      expect(old?.originalInput).toBeUndefined();
      expect(await st.getDisabledDefinitions()).toEqual(new Set(['other.def']));
      const [claimed] = await st.claimRuns({ nodeId: 'n', now: Date.now(), leaseMs: 1000, limit: 5, slots: [{ definitionId: 'test.def', max: 5 }] });
      expect(claimed).toMatchObject({ id: '01aaaaaaaaaaaaaaaaaaaaaaaa', abortRequested: false, retries: 0 });
      expect(await st.writeLocal({ definitionId: 'other.def', key: 'k', value: 1, expectedVersion: 0 })).toEqual({ ok: true, version: 1 });
      expect(await st.restartDefinition('other.def', '01bbbbbbbbbbbbbbbbbbbbbbbb')).toEqual({ localsCleared: 1 });
      expect(await st.getDisabledDefinitions()).toEqual(new Set(['other.def'])); // a restart leaves the disabled flag alone
    } finally {
      await st.close();
    }
  });

  it('brings a schema of version 4 up to date (migration 5): old runs are found by their tenant, even beside text PostgreSQL cannot unescape', async () => {
    // ids in order: listRuns answers newest first
    const contexts: Array<[string, string | null]> = [
      ['01aaaaaaaaaaaaaaaaaaaaaaa1', '{"tenant":"acme","user":"u"}'],
      ['01aaaaaaaaaaaaaaaaaaaaaaa2', '{"note":"a\\u0000b","tenant":"acme"}'], // NUL elsewhere: still acme's
      ['01aaaaaaaaaaaaaaaaaaaaaaa3', '{"tenant":"acme","x":"\\ud800"}'], // a lone surrogate elsewhere
      ['01aaaaaaaaaaaaaaaaaaaaaaa4', '{"tenant":"ac\\u0000me"}'], // a tenant text cannot hold: none
      ['01aaaaaaaaaaaaaaaaaaaaaaa5', '{"tenant":5}'],
      ['01aaaaaaaaaaaaaaaaaaaaaaa6', '{"tenant":"other"}'],
      ['01aaaaaaaaaaaaaaaaaaaaaaa7', null],
      ['01aaaaaaaaaaaaaaaaaaaaaaa8', '[1,2]'],
    ];
    await withPg(async (c) => {
      await migrate(
        c,
        schema,
        MIGRATIONS.filter((m) => m.version <= 4),
      );
      for (const [id, context] of contexts) {
        await c.query(
          `insert into "${schema}".runs (id, definition_id, name, status, context, created_on, due_at, iterations, attempt)
           values ($1, 'test.def', 'test.def', 'pending', $2::json, $3, 0, 0, 0)`,
          [id, context, new Date().toISOString()],
        );
      }
    });
    const st = postgresStorage({ connectionString: PG_URL, schema });
    await st.init();
    try {
      expect((await pgAdmin.schemaVersion({ connectionString: PG_URL, schema })).current).toBe(LATEST_SCHEMA_VERSION);
      const tenantIds = async (tenant: string) => (await st.listRuns({ tenant })).items.map((r) => r.id);
      expect(await tenantIds('acme')).toEqual(['01aaaaaaaaaaaaaaaaaaaaaaa3', '01aaaaaaaaaaaaaaaaaaaaaaa2', '01aaaaaaaaaaaaaaaaaaaaaaa1']);
      expect(await tenantIds('other')).toEqual(['01aaaaaaaaaaaaaaaaaaaaaaa6']);
      expect(await tenantIds('5')).toEqual([]);
      expect(await tenantIds('ac\u0000me')).toEqual([]);
      // the runs are intact
      expect((await st.getRun('01aaaaaaaaaaaaaaaaaaaaaaa2'))?.context).toEqual({ note: 'a\u0000b', tenant: 'acme' });
      // and a run inserted now is found by its tenant too
      const [fresh] = await st.insertRuns([makeRun({ definitionId: 'test.def', context: { tenant: 'acme', s: 'x\u0000' } })]);
      expect((await tenantIds('acme'))[0]).toBe(fresh.run.id);
    } finally {
      await st.close();
    }
  });

  it('a local write and a restart of the same definition serialise: the write is either cleared or refused, never kept (20 rounds)', async () => {
    const a = postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 });
    const b = postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 });
    await a.init();
    await b.init();
    try {
      for (let round = 0; round < 20; round++) {
        const writer = `01${String(round).padStart(2, '0')}aaaaaaaaaaaaaaaaaaaaaa`; // created before the cut-off
        const cutoff = `01${String(round).padStart(2, '0')}zzzzzzzzzzzzzzzzzzzzzz`;
        const writes = Array.from({ length: 5 }, (_, i) => a.writeLocal({ definitionId: 'race.def', key: `k${i}`, value: round, writerRunId: writer }));
        const restart = b.restartDefinition('race.def', cutoff);
        const results = await Promise.all(writes);
        await restart;
        for (const r of results) expect(r.ok || r.reason === 'restarted').toBe(true);
        // whatever the order, the old run's writes are gone once the restart returned
        expect(await a.listLocals('race.def')).toEqual(new Map());
      }
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("keeps the driver's and the server's messages out of a StorageError's message: the code says what, the cause has the rest", async () => {
    const st = await open();
    const [{ run }] = await st.insertRuns([makeRun()]);
    await withPg((c) => c.query(`drop table "${schema}".logs`));
    const err = await st.listLogs({ runId: run.id }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    const { message, cause } = err as StorageError;
    expect(message).toBe('PostgreSQL storage: listLogs failed (SQLSTATE 42P01)');
    expect(message).not.toContain(schema);
    expect(String((cause as Error).message)).toMatch(/does not exist/);
    // a connection refused: the socket's code, not its text
    const refused = postgresStorage({ connectionString: 'postgres://postgres@127.0.0.1:9/test', schema, connectionTimeoutMs: 500, reconnectWindowMs: 0 });
    closers.push(() => refused.close());
    const down = await refused.init().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(down).toBeInstanceOf(StorageError);
    expect((down as Error).message).toMatch(/^PostgreSQL storage: connecting failed \((ECONNREFUSED|see its cause)\)$/);
  });

  it('pgAdmin reports and applies the schema version', async () => {
    expect(await pgAdmin.schemaVersion({ connectionString: PG_URL, schema })).toEqual({ current: 0, latest: pgAdmin.migrations().length });
    expect(await pgAdmin.migrate({ connectionString: PG_URL, schema })).toEqual(pgAdmin.migrations().map((m) => m.version));
    expect(await pgAdmin.migrate({ connectionString: PG_URL, schema })).toEqual([]);
    const v = await pgAdmin.schemaVersion({ connectionString: PG_URL, schema });
    expect(v.current).toBe(v.latest);
  });
});

describe('PostgreSQL adapter source', () => {
  it('builds no SQL from values: only the quoted schema and fixed fragments are interpolated', () => {
    const dir = join(__dirname, '../../src/adapters/postgres');
    const allowed = new Set([
      's',
      'this.s',
      // the operations' files: the quoted schema of the storage's connections (StorageConnections.s)
      'db.s',
      'cols()',
      "cols('r')",
      "cols('upd')",
      // transactional triggers: the fixed column list with text casts for a host's client, and the insert's lookup made for either list
      "portableCols('r')",
      'runColumns',
      'UNFINISHED',
      'FINISHED',
      'INSERT_RECORDSET',
      "where.length ? `where ${where.join(' and ')}` : ''",
      "where.join(' and ')",
      'param(limit + 1)',
      'param(query.definition)',
      'param(statuses)',
      'param(query.parentId)',
      'param(query.cursor)',
      'wake',
      'abort',
      'finish',
      'restart',
      'events',
      'interest',
      // writeLocal: one of three fixed statements (unconditional, insert-if-absent, compare-and-set)
      'step',
      'm.sql(s)',
      // insertRuns: column names, casts and $n placeholders taken from the fixed INSERT_COLUMNS list
      'columnList',
      'selectList',
      'arrays',
      'arrayColumns',
      // updateIterations: fixed SET clauses, parameter casts and column names (UPDATE_COLUMNS), a fixed RETURNING list
      'setList',
      'arrayList',
      'nameList',
      'returning',
      // listRuns by definition: fixed status predicates (STATUS_GROUPS) and the branches built of them
      'status',
      "branches.join(' union all ')",
      // claims: the fixed key expression of the running-runs index
      'LEASE_KEY',
    ]);
    const offenders: string[] = [];
    // the adapter's files and those of its folders (storage/, distribution/: one file per operation)
    const files = (readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(20); // the walk reaches the operations' folders
    for (const file of files) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const literal of text.match(/`[^`]*`/g) ?? []) {
        if (!/^`\s*(select|insert|update|delete|with|where|create|drop|alter|listen|begin)\b/i.test(literal)) continue;
        for (const m of literal.matchAll(/\$\{([^}]*)\}/g)) {
          if (!allowed.has(m[1].trim())) offenders.push(`${file}: \${${m[1]}}`);
        }
      }
    }
    expect(offenders).toEqual([]);
  });
});

describe('PostgreSQL adapter: bounded recent sets and maps', () => {
  it('keep at least the last max/2 entries and never more than max', () => {
    const set = new RecentSet(10);
    const map = new RecentMap<number>(10);
    for (let i = 0; i < 1000; i++) {
      set.add(`k${i}`);
      map.set(`k${i}`, i);
      expect(set.size).toBeLessThanOrEqual(10);
      expect(map.size).toBeLessThanOrEqual(10);
      for (let j = Math.max(0, i - 4); j <= i; j++) {
        expect(set.has(`k${j}`)).toBe(true);
        expect(map.get(`k${j}`)).toBe(j);
      }
    }
    expect(set.has('k0')).toBe(false);
    expect(map.get('k0')).toBeUndefined();
    // re-setting a key of the older generation moves it; deleting removes it from both
    map.set('k996', -1);
    expect(map.get('k996')).toBe(-1);
    map.delete('k996');
    expect(map.get('k996')).toBeUndefined();
    set.add('k999');
    expect(set.size).toBeLessThanOrEqual(10);
    set.clear();
    map.clear();
    expect([set.size, map.size]).toEqual([0, 0]);
  });
});
