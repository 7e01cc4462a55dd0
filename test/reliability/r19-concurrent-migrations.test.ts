/**
 * R19 concurrent migrations: 10 processes open the same database at the same moment, one version
 * behind (SQLite at migration 1 of 2, PostgreSQL at 2 of 3, with a run in it). The schema ends at
 * the latest version with each migration recorded exactly once, no process sees an error (the
 * losers wait), and the old run is still there. The empty database is done elsewhere (SQLite: 6
 * processes in test/integration/sqlite-storage.test.ts; PostgreSQL: 10 storages of one process in
 * postgres-distribution.test.ts), and so is a database newer than the code (SCHEMA_TOO_NEW).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { migrateSqlite, SQLITE_MIGRATIONS, SQLITE_SCHEMA_VERSION } from '../../src/adapters/sqlite/migrations';
import { sqliteStorage } from '../../src/adapters/sqlite/sqlite-storage';
import { postgresStorage } from '../../src/adapters/postgres';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate } from '../../src/adapters/postgres/postgres-migrations';
import { describeWithPostgres, freshPgSchema, PG_URL, withPg } from '../helpers/services';
import { tempDir } from '../helpers/temp-files';
import { compiled } from '../helpers/child-build';

const CHILD = compiled('test/fixtures/storage-migrate-child.ts');
const PROCESSES = 10;
const OLD_RUN = '01aaaaaaaaaaaaaaaaaaaaaaaa';

interface Report {
  ok: boolean;
  error?: string;
  code?: string;
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** forks the children, waits until every one is ready (compiled), then lets them all go at once */
async function migrateAtOnce(args: string[]): Promise<Report[]> {
  const children = Array.from({ length: PROCESSES }, () => fork(CHILD, args, { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
  try {
    const ready = children.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          child.on('message', (m) => m === 'ready' && resolve());
          child.once('exit', (code) => reject(new Error(`child exited (${code}) before it was ready`)));
        }),
    );
    const reports = children.map(
      (child) =>
        new Promise<Report>((resolve, reject) => {
          child.on('message', (m) => m !== 'ready' && resolve(m as Report));
          child.once('exit', (code) => reject(new Error(`child exited (${code}) before reporting`)));
        }),
    );
    await Promise.all(ready);
    for (const child of children) child.send('go');
    return await Promise.all(reports);
  } finally {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all(children.map(exited));
  }
}

describe('R19 concurrent migrations on SQLite', () => {
  let tmp: ReturnType<typeof tempDir>;
  let file: string;
  beforeEach(() => {
    tmp = tempDir();
    file = join(tmp.dir, 'tasks.db');
  });
  afterEach(() => tmp.remove());

  function expectLatest(): void {
    const db = new Database(file, { readonly: true });
    try {
      const rows = db.prepare('SELECT version, count(*) AS n FROM tasklane_migrations GROUP BY version ORDER BY version').all();
      expect(rows).toEqual(SQLITE_MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
      expect(db.prepare("SELECT value FROM tasklane_meta WHERE key = 'schema_version'").pluck().get()).toBe(String(SQLITE_SCHEMA_VERSION));
    } finally {
      db.close();
    }
  }

  test('10 processes on a file one version behind: latest schema, each migration once, no error, the old run kept', async () => {
    const old = new Database(file);
    old.pragma('journal_mode = WAL');
    migrateSqlite(old, SQLITE_MIGRATIONS.slice(0, -1));
    old
      .prepare(
        `INSERT INTO tasklane_runs (id, definition_id, name, status, input, created_on, due_at) VALUES (?, 'test.def', 'test.def', 'pending', '{}', ?, 0)`,
      )
      .run(OLD_RUN, new Date().toISOString());
    expect(old.prepare('SELECT max(version) FROM tasklane_migrations').pluck().get()).toBe(SQLITE_SCHEMA_VERSION - 1);
    old.close();

    expect((await migrateAtOnce(['sqlite', file])).filter((r) => !r.ok)).toEqual([]);
    expectLatest();
    const s = sqliteStorage({ file });
    await s.init();
    expect(await s.getRun(OLD_RUN)).toMatchObject({ status: 'pending' });
    await s.close();
  }, 300_000);
});

describeWithPostgres('R19 concurrent migrations on PostgreSQL', () => {
  let schema: string;
  let drop: () => Promise<void>;
  beforeEach(async () => {
    ({ schema, drop } = await freshPgSchema());
  });
  afterEach(async () => drop());

  async function expectLatest(): Promise<void> {
    const rows = await withPg((c) => c.query(`select version, count(*)::int as n from "${schema}".migrations group by version order by version`));
    expect(rows.rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version, n: 1 })));
  }

  test('10 processes on a schema one version behind: latest schema, each migration once, no error, the old run kept', async () => {
    await withPg(async (c) => {
      expect(await migrate(c, schema, MIGRATIONS.slice(0, -1))).toEqual(MIGRATIONS.slice(0, -1).map((m) => m.version));
      await c.query(
        `insert into "${schema}".runs (id, definition_id, name, status, input, created_on, due_at) values ($1, 'test.def', 'test.def', 'pending', '{}', $2, 0)`,
        [OLD_RUN, new Date().toISOString()],
      );
      const v = await c.query<{ v: number }>(`select max(version) as v from "${schema}".migrations`);
      expect(v.rows[0].v).toBe(LATEST_SCHEMA_VERSION - 1);
    });

    expect((await migrateAtOnce(['postgres', PG_URL, schema])).filter((r) => !r.ok)).toEqual([]);
    await expectLatest();
    const s = postgresStorage({ connectionString: PG_URL, schema });
    await s.init();
    expect(await s.getRun(OLD_RUN)).toMatchObject({ status: 'pending' });
    await s.close();
  }, 300_000);
});
