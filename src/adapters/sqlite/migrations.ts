import type Database from 'better-sqlite3';
import { SchemaTooNewError, StorageError } from '../../api/errors';

/**
 * The SQLite schema, as a versioned list. A migration is never edited once released: a change is
 * a new entry with the next version. `tasklane_meta.schema_version` holds the version a database
 * is at, `tasklane_migrations` one row per migration applied.
 */
export interface SqliteMigration {
  version: number;
  name: string;
  sql: string;
}

export const SQLITE_MIGRATIONS: readonly SqliteMigration[] = [
  {
    version: 1,
    name: 'runs, logs, values, definitions, schedule ticks',
    sql: `
      CREATE TABLE tasklane_runs (
        id               TEXT PRIMARY KEY,
        definition_id    TEXT NOT NULL,
        name             TEXT NOT NULL,
        status           TEXT NOT NULL,
        input            TEXT,
        output           TEXT,
        error            TEXT,
        progress         TEXT,
        iterations       INTEGER NOT NULL DEFAULT 0,
        attempt          INTEGER NOT NULL DEFAULT 0,
        parent_id        TEXT,
        key              TEXT,
        context          TEXT,
        after_id         TEXT,
        run_at           TEXT,
        scheduled_for    TEXT,
        created_on       TEXT NOT NULL,
        started_on       TEXT,
        finished_on      TEXT,
        node_id          TEXT,
        due_at           INTEGER NOT NULL DEFAULT 0,
        target_node_id   TEXT,
        lease_token      TEXT,
        lease_expires_at INTEGER,
        abort_requested  INTEGER NOT NULL DEFAULT 0,
        recoveries       INTEGER NOT NULL DEFAULT 0,
        log_count        INTEGER NOT NULL DEFAULT 0
      );

      -- claims (c): a definition's pending runs in id order; covering, so runs that are not due,
      -- targeted elsewhere or waiting for another run are skipped without reading their rows
      CREATE INDEX tasklane_runs_pending ON tasklane_runs (definition_id, id, due_at, target_node_id, after_id)
        WHERE status = 'pending';
      -- claims (a): parked runs by due time
      CREATE INDEX tasklane_runs_parked ON tasklane_runs (definition_id, due_at, id)
        WHERE status = 'running' AND lease_token IS NULL;
      -- claims (b): leased runs by expiry
      CREATE INDEX tasklane_runs_leased ON tasklane_runs (definition_id, lease_expires_at)
        WHERE status = 'running' AND lease_token IS NOT NULL;
      -- at most one unfinished run per (definition, key)
      CREATE UNIQUE INDEX tasklane_runs_key ON tasklane_runs (definition_id, key)
        WHERE key IS NOT NULL AND status IN ('pending', 'running');
      -- listRuns by definition / by parent, newest first
      CREATE INDEX tasklane_runs_definition ON tasklane_runs (definition_id, id);
      CREATE INDEX tasklane_runs_parent ON tasklane_runs (parent_id, id) WHERE parent_id IS NOT NULL;
      -- deleteFinishedBefore
      CREATE INDEX tasklane_runs_finished ON tasklane_runs (finished_on)
        WHERE status IN ('success', 'failed', 'aborted');

      CREATE TABLE tasklane_logs (
        seq        INTEGER PRIMARY KEY,
        run_id     TEXT NOT NULL,
        type       TEXT NOT NULL,
        message    TEXT NOT NULL,
        data       TEXT,
        created_on TEXT NOT NULL
      );
      CREATE INDEX tasklane_logs_run ON tasklane_logs (run_id, seq);

      CREATE TABLE tasklane_values (
        run_id TEXT NOT NULL,
        key    TEXT NOT NULL,
        value  TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
      ) WITHOUT ROWID;

      CREATE TABLE tasklane_definitions (
        definition_id TEXT PRIMARY KEY,
        disabled      INTEGER NOT NULL DEFAULT 0
      ) WITHOUT ROWID;

      CREATE TABLE tasklane_schedule_ticks (
        schedule_id TEXT NOT NULL,
        tick        TEXT NOT NULL,
        recorded_on TEXT NOT NULL,
        PRIMARY KEY (schedule_id, tick)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'runs: backfilled (a schedule tick fired late, after downtime)',
    sql: `
      ALTER TABLE tasklane_runs ADD COLUMN backfilled INTEGER NOT NULL DEFAULT 0;
    `,
  },
  {
    version: 3,
    name: 'retries (runs: retries, retry_of, retry_policy, original_input, iteration_base); task locals; restart cut-off',
    sql: `
      ALTER TABLE tasklane_runs ADD COLUMN retries INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE tasklane_runs ADD COLUMN retry_of TEXT;
      ALTER TABLE tasklane_runs ADD COLUMN retry_policy TEXT;
      ALTER TABLE tasklane_runs ADD COLUMN original_input TEXT;
      ALTER TABLE tasklane_runs ADD COLUMN iteration_base INTEGER NOT NULL DEFAULT 0;

      -- runs below it were restarted (TaskService.restart): claimed aborted, their local writes refused
      ALTER TABLE tasklane_definitions ADD COLUMN restart_cutoff TEXT;

      -- a definition's locals; value NULL = not set (deleted, cleared), the version still counting
      CREATE TABLE tasklane_locals (
        definition_id TEXT NOT NULL,
        key           TEXT NOT NULL,
        value         TEXT,
        version       INTEGER NOT NULL,
        PRIMARY KEY (definition_id, key)
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 4,
    name: 'runs by tenant (listRuns({ tenant }), a management principal with a tenant)',
    // an index on the expression listRuns filters on, only over runs with a tenant: nothing to
    // backfill, and run transitions never touch it (they do not change the context)
    sql: `
      CREATE INDEX tasklane_runs_tenant ON tasklane_runs (json_extract(context, '$.tenant'), id)
        WHERE json_extract(context, '$.tenant') IS NOT NULL;
    `,
  },
];

export const SQLITE_SCHEMA_VERSION = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1].version;

export interface MigrationOutcome {
  from: number;
  to: number;
  applied: number[];
}

/**
 * Brings the database to {@link SQLITE_SCHEMA_VERSION} in one `BEGIN IMMEDIATE` transaction: the
 * first process to get the write lock migrates; the others wait for it (busy_timeout) and then find
 * nothing to do. A database at a newer version than this code knows is refused with
 * {@link SchemaTooNewError} and left untouched. The caller retries on SQLITE_BUSY.
 */
export function migrateSqlite(db: Database.Database, migrations: readonly SqliteMigration[] = SQLITE_MIGRATIONS): MigrationOutcome {
  const latest = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  const run = db.transaction((): MigrationOutcome => {
    db.exec(`
      CREATE TABLE IF NOT EXISTS tasklane_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS tasklane_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_on TEXT NOT NULL
      );
    `);
    const row = db.prepare('SELECT value FROM tasklane_meta WHERE key = ?').get('schema_version') as { value: string } | undefined;
    const from = row === undefined ? 0 : Number(row.value);
    if (!Number.isInteger(from) || from < 0) {
      throw new StorageError(`The SQLite database has an unreadable tasklane schema_version (${JSON.stringify(row?.value)}).`);
    }
    if (from > latest) throw new SchemaTooNewError(from, latest, 'SQLite');
    const applied: number[] = [];
    const record = db.prepare('INSERT INTO tasklane_migrations (version, name, applied_on) VALUES (?, ?, ?)');
    for (const migration of migrations) {
      if (migration.version <= from) continue;
      db.exec(migration.sql);
      record.run(migration.version, migration.name, new Date().toISOString());
      applied.push(migration.version);
    }
    if (applied.length > 0) {
      db.prepare('INSERT INTO tasklane_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(
        'schema_version',
        String(latest),
      );
    }
    return { from, to: Math.max(from, latest), applied };
  });
  return run.immediate();
}
