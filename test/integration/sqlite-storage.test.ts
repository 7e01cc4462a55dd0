import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SchemaTooNewError, StorageError, TasklaneError } from '../../src/api/errors';
import { migrateSqlite, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from '../../src/adapters/sqlite/migrations';
import { SqliteStorage, sqliteStorage } from '../../src/adapters/sqlite/sqlite-storage';
import { makeRun } from '../helpers/make-run';
import { compiled } from '../helpers/child-build';

/** What only SQLite has: a file, a schema version, several processes on one file. */

const CHILD = compiled('test/fixtures/sqlite-storage-child.ts');

interface ChildReport {
  ok: boolean;
  claimed?: string[];
  error?: string;
  code?: string;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** forks `count` children, waits until all are ready, starts them at once, collects their reports */
async function runChildren(mode: 'migrate' | 'claim', file: string, count: number): Promise<ChildReport[]> {
  const children = Array.from({ length: count }, (_, i) =>
    fork(CHILD, [mode, file, `node-${i}`], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
  );
  try {
    const reports = children.map(
      (child) =>
        new Promise<ChildReport>((resolve, reject) => {
          child.on('message', (message) => {
            if (message !== 'ready') resolve(message as ChildReport);
          });
          child.once('exit', (code) => reject(new Error(`child exited (${code}) before reporting`)));
        }),
    );
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve, reject) => {
            child.on('message', (message) => message === 'ready' && resolve());
            child.once('exit', (code) => reject(new Error(`child exited (${code}) before it was ready`)));
          }),
      ),
    );
    for (const child of children) child.send('go');
    const results = await Promise.all(reports);
    await Promise.all(children.map(exited));
    return results;
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
  }
}

describe('SqliteStorage (SQLite specifics)', () => {
  let dir: string;
  let file: string;
  const open: SqliteStorage[] = [];

  function storage(options: { busyTimeoutMs?: number } = {}): SqliteStorage {
    const s = sqliteStorage({ file, ...options });
    open.push(s);
    return s;
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'tasklane-sqlite-it-'));
    file = join(dir, 'tasks.db');
  });

  afterEach(async () => {
    for (const s of open.splice(0)) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is durable and shared', () => {
    expect(storage().capabilities).toEqual({ durable: true, shared: true, transactions: true });
  });

  it('refuses calls before init() and after close()', async () => {
    const s = storage();
    await expect(s.getRun('x')).rejects.toMatchObject({ code: 'ENGINE_STATE' });
    await s.init();
    await s.close();
    await expect(s.insertRuns([makeRun()])).rejects.toMatchObject({ code: 'ENGINE_STATE' });
  });

  it("keeps SQLite's message and the file's path out of a StorageError's message: the code says what, the cause has the rest", async () => {
    const s = storage();
    await s.init();
    const [{ run }] = await s.insertRuns([makeRun()]);
    const raw = new Database(file);
    raw.exec('DROP TABLE tasklane_logs');
    raw.close();
    const err = await s.listLogs({ runId: run.id }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StorageError);
    expect((err as StorageError).message).toBe('SQLite storage: an operation on the database failed (SQLITE_ERROR)');
    expect(((err as StorageError).cause as Error).message).toMatch(/no such table/);
  });

  it("tells SQLite errors by their code: a second copy of better-sqlite3 throws errors of the first copy's class", async () => {
    // the native binding takes the SqliteError class of the first copy that opened a database
    // (here this file's); a storage whose copy is another (another bundle, another module
    // registry) gets errors its own class does not own, and once let their message through
    new Database(':memory:').close();
    let isolated: typeof sqliteStorage | undefined;
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- isolateModules takes a synchronous callback: import() would load outside it
      isolated = (require('../../src/adapters/sqlite/sqlite-storage') as { sqliteStorage: typeof sqliteStorage }).sqliteStorage;
    });
    const s = isolated!({ file });
    await s.init();
    const raw = new Database(file);
    raw.exec('DROP TABLE tasklane_values');
    raw.close();
    const err = await s.getValue('some-run', 'k').then(
      () => undefined,
      (e: unknown) => e,
    );
    await s.close();
    expect(TasklaneError.is(err)).toBe(true); // a TasklaneError of the other copy
    expect((err as { code: string; message: string }).code).toBe('STORAGE_ERROR');
    expect((err as Error).message).toBe('SQLite storage: an operation on the database failed (SQLITE_ERROR)');
  });

  it('creates the directory of the file', async () => {
    file = join(dir, 'a', 'b', 'tasks.db');
    await storage().init();
    expect(existsSync(file)).toBe(true);
  });

  it('sets WAL and records the schema version and each migration once', async () => {
    await storage().init();
    await storage().init(); // a second process/connection on the same file: nothing to do
    const db = new Database(file, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(db.prepare("SELECT value FROM tasklane_meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION));
      expect(db.prepare('SELECT version FROM tasklane_migrations ORDER BY version').pluck().all()).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    } finally {
      db.close();
    }
  });

  it('brings a database of an older version up to date, keeping its runs', async () => {
    // a file as version 1 of the code left it, with a pending and a finished run
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    migrateSqlite(
      old,
      SQLITE_MIGRATIONS.filter((m) => m.version === 1),
    );
    const insert = old.prepare(
      `INSERT INTO tasklane_runs (id, definition_id, name, status, input, created_on, due_at, finished_on, output)
       VALUES (?, 'test.def', 'test.def', ?, '{}', ?, 0, ?, ?)`,
    );
    const now = new Date().toISOString();
    insert.run('01aaaaaaaaaaaaaaaaaaaaaaaa', 'pending', now, null, null);
    insert.run('01aaaaaaaaaaaaaaaaaaaaaaab', 'success', now, now, '"done"');
    old.close();

    const s = storage();
    await s.init();
    expect(await s.getRun('01aaaaaaaaaaaaaaaaaaaaaaab')).toMatchObject({ status: 'success', output: 'done' });
    expect((await s.getRun('01aaaaaaaaaaaaaaaaaaaaaaab'))?.backfilled).toBeUndefined();
    const [claimed] = await s.claimRuns({ nodeId: 'n', now: Date.now(), leaseMs: 1000, limit: 5, slots: [{ definitionId: 'test.def', max: 5 }] });
    expect(claimed.id).toBe('01aaaaaaaaaaaaaaaaaaaaaaaa');
    const [flagged] = await s.insertRuns([makeRun({ scheduledFor: now, backfilled: true })]);
    expect((await s.getRun(flagged.run.id))?.backfilled).toBe(true);
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT value FROM tasklane_meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION));
      expect(db.prepare('SELECT version FROM tasklane_migrations ORDER BY version').pluck().all()).toEqual(SQLITE_MIGRATIONS.map((m) => m.version));
    } finally {
      db.close();
    }
  });

  it('brings a database of version 2 up to date (migration 3): old runs get no retries, old definitions no cut-off; locals and restarts work', async () => {
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    migrateSqlite(
      old,
      SQLITE_MIGRATIONS.filter((m) => m.version <= 2),
    );
    old
      .prepare(
        `INSERT INTO tasklane_runs (id, definition_id, name, status, input, created_on, due_at) VALUES ('01aaaaaaaaaaaaaaaaaaaaaaaa', 'test.def', 'test.def', 'pending', '{"n":1}', ?, 0)`,
      )
      .run(new Date().toISOString());
    old.prepare(`INSERT INTO tasklane_definitions (definition_id, disabled) VALUES ('other.def', 1)`).run();
    old.close();

    const s = storage();
    await s.init();
    const run = await s.getRun('01aaaaaaaaaaaaaaaaaaaaaaaa');
    expect(run).toMatchObject({ status: 'pending', input: { n: 1 }, retries: 0, iterationBase: 0 });
    expect(run?.retryOf).toBeUndefined();
    expect(run?.originalInput).toBeUndefined();
    expect(await s.getDisabledDefinitions()).toEqual(new Set(['other.def']));
    const [claimed] = await s.claimRuns({ nodeId: 'n', now: Date.now(), leaseMs: 1000, limit: 5, slots: [{ definitionId: 'test.def', max: 5 }] });
    expect(claimed).toMatchObject({ id: '01aaaaaaaaaaaaaaaaaaaaaaaa', abortRequested: false, retries: 0 });
    expect(await s.writeLocal({ definitionId: 'other.def', key: 'k', value: 1, expectedVersion: 0 })).toEqual({ ok: true, version: 1 });
    expect(await s.restartDefinition('other.def', '01bbbbbbbbbbbbbbbbbbbbbbbb')).toEqual({ localsCleared: 1 });
    expect(await s.getDisabledDefinitions()).toEqual(new Set(['other.def']));
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT value FROM tasklane_meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION));
    } finally {
      db.close();
    }
  });

  it('brings a database of version 3 up to date (migration 4): old runs are found by their tenant, through the tenant index', async () => {
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    migrateSqlite(
      old,
      SQLITE_MIGRATIONS.filter((m) => m.version <= 3),
    );
    const insert = old.prepare(
      `INSERT INTO tasklane_runs (id, definition_id, name, status, context, created_on, due_at) VALUES (?, 'test.def', 'test.def', 'pending', ?, ?, 0)`,
    );
    insert.run('01aaaaaaaaaaaaaaaaaaaaaaa1', '{"tenant":"acme"}', new Date().toISOString());
    insert.run('01aaaaaaaaaaaaaaaaaaaaaaa2', '{"tenant":"other"}', new Date().toISOString());
    insert.run('01aaaaaaaaaaaaaaaaaaaaaaa3', '{"tenant":"acme","note":"a\\u0000b"}', new Date().toISOString());
    insert.run('01aaaaaaaaaaaaaaaaaaaaaaa4', null, new Date().toISOString());
    old.close();

    const s = storage();
    await s.init();
    expect((await s.listRuns({ tenant: 'acme' })).items.map((r) => r.id)).toEqual(['01aaaaaaaaaaaaaaaaaaaaaaa3', '01aaaaaaaaaaaaaaaaaaaaaaa1']);
    await s.close();
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare("SELECT value FROM tasklane_meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION));
      // the statement listRuns sends for a tenant is served by the index, newest first
      const plan = db
        .prepare(
          `EXPLAIN QUERY PLAN SELECT id FROM tasklane_runs WHERE json_extract(context, '$.tenant') = ? AND json_type(context, '$.tenant') = 'text' AND id < ? ORDER BY id DESC LIMIT ?`,
        )
        .all('acme', 'z', 51) as Array<{ detail: string }>;
      expect(plan.map((p) => p.detail).join('; ')).toMatch(/USING (COVERING )?INDEX tasklane_runs_tenant/);
    } finally {
      db.close();
    }
  });

  it('refuses a database whose schema is newer than the code with SchemaTooNewError', async () => {
    const first = storage();
    await first.init();
    await first.close();
    const db = new Database(file);
    db.prepare("UPDATE tasklane_meta SET value = ? WHERE key = 'schema_version'").run(String(SQLITE_SCHEMA_VERSION + 1));
    db.close();

    const error: unknown = await storage()
      .init()
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(SchemaTooNewError);
    expect(TasklaneError.is(error) && error.code).toBe('SCHEMA_TOO_NEW');

    const check = new Database(file, { readonly: true });
    expect(check.prepare("SELECT value FROM tasklane_meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION + 1));
    check.close();
  });

  it('keeps runs, logs, values, definitions and ticks across close and reopen', async () => {
    const before = storage();
    await before.init();
    const [pending, toClaim] = (await before.insertRuns([makeRun({ key: 'k', input: { a: [1, { b: 2 }] } }), makeRun()])).map((r) => r.run);
    const [claimed] = await before.claimRuns({ nodeId: 'n1', now: Date.now(), leaseMs: 60_000, limit: 1, slots: [{ definitionId: 'test.def', max: 1 }] });
    expect(claimed.id).toBe(pending.id);
    await before.appendLogs([{ runId: claimed.id, type: 'warn', message: 'kept', data: { x: 1 }, createdOn: new Date().toISOString() }], 10);
    await before.setValue(claimed.id, 'cursor', { next: 5 });
    await before.setDefinitionDisabled('test.off', true);
    expect(await before.recordScheduleTick('sched', '2030-01-01T00:00:00.000Z')).toBe(true);
    const snapshot = await before.getRuns([pending.id, toClaim.id]);
    await before.close();

    const after = storage();
    await after.init();
    expect(await after.getRuns([pending.id, toClaim.id])).toEqual(snapshot);
    expect((await after.listLogs({ runId: claimed.id })).items.map((l) => [l.message, l.data])).toEqual([['kept', { x: 1 }]]);
    expect(await after.getValue(claimed.id, 'cursor')).toEqual({ next: 5 });
    expect(await after.getDisabledDefinitions()).toEqual(new Set(['test.off']));
    expect(await after.recordScheduleTick('sched', '2030-01-01T00:00:00.000Z')).toBe(false);
    expect((await after.findUnfinishedByKey('test.def', 'k'))?.id).toBe(pending.id);
    // the lease survives too: the holder can still complete
    const [done] = await after.updateIterations([
      { id: claimed.id, leaseToken: claimed.leaseToken as string, status: 'success', finishedOn: new Date().toISOString() },
    ]);
    expect(done.ok).toBe(true);
  });

  it('keeps idempotency keys and claims atomic across two connections', async () => {
    const a = storage();
    const b = storage();
    await a.init();
    await b.init();
    const inserts = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).insertRuns([makeRun({ definitionId: 'two', key: 'same' })])));
    expect(inserts.filter(([r]) => r.created)).toHaveLength(1);
    expect(new Set(inserts.map(([r]) => r.run.id)).size).toBe(1);

    await a.insertRuns(Array.from({ length: 30 }, () => makeRun({ definitionId: 'two' })));
    const request = { now: Date.now(), leaseMs: 60_000, limit: 20, slots: [{ definitionId: 'two', max: 20 }] };
    const [fromA, fromB] = await Promise.all([a.claimRuns({ ...request, nodeId: 'a' }), b.claimRuns({ ...request, nodeId: 'b' })]);
    const ids = [...fromA, ...fromB].map((r) => r.id);
    expect(ids).toHaveLength(31);
    expect(new Set(ids).size).toBe(31);
  });

  it('waits out a write lock held longer than busy_timeout instead of failing with SQLITE_BUSY', async () => {
    const s = storage({ busyTimeoutMs: 20 });
    await s.init();
    const blocker = new Database(file);
    blocker.exec('BEGIN IMMEDIATE');
    const held = Date.now();
    const release = setTimeout(() => {
      blocker.exec('COMMIT');
      blocker.close();
    }, 300);
    try {
      const [result] = await s.insertRuns([makeRun()]);
      expect(result.created).toBe(true);
      expect(Date.now() - held).toBeGreaterThanOrEqual(250); // it really waited for the lock
      expect(await s.claimRuns({ nodeId: 'n', now: Date.now(), leaseMs: 1000, limit: 5, slots: [{ definitionId: 'test.def', max: 5 }] })).toHaveLength(1);
    } finally {
      clearTimeout(release);
      if (blocker.open) {
        if (blocker.inTransaction) blocker.exec('ROLLBACK');
        blocker.close();
      }
    }
  });

  it('lets several processes migrate a new file at the same moment', async () => {
    const reports = await runChildren('migrate', file, 6);
    expect(reports.filter((r) => !r.ok)).toEqual([]);
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT version, count(*) AS n FROM tasklane_migrations GROUP BY version ORDER BY version').all() as Array<{
        version: number;
        n: number;
      }>;
      expect(rows).toEqual(SQLITE_MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
      expect(db.prepare("SELECT value FROM tasklane_meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION));
    } finally {
      db.close();
    }
  }, 90_000);

  it('never claims a run twice across four processes draining one file (no SQLITE_BUSY surfaces)', async () => {
    const seed = storage();
    await seed.init();
    const runs = Array.from({ length: 2000 }, () => makeRun({ definitionId: 'mp' }));
    for (let i = 0; i < runs.length; i += 500) await seed.insertRuns(runs.slice(i, i + 500));
    await seed.close();

    const reports = await runChildren('claim', file, 4);
    expect(reports.filter((r) => !r.ok)).toEqual([]);
    const claimed = reports.flatMap((r) => r.claimed ?? []);
    expect(claimed).toHaveLength(2000);
    expect(new Set(claimed).size).toBe(2000);

    const check = storage();
    await check.init();
    const stored = await check.getRuns(runs.map((r) => r.id));
    expect(stored.filter((r) => r.status !== 'success' || r.attempt !== 1 || r.iterations !== 1)).toEqual([]);
    expect((await check.countPending()).get('mp') ?? 0).toBe(0);
  }, 120_000);
});
