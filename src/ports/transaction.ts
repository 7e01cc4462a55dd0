import type { RunRecord } from './run-record';

/** A value now, or a promise of it: transactional steps stay synchronous where the adapter is. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * A PostgreSQL connection on which the host has issued `BEGIN`: a `pg` `Client` or `PoolClient`
 * (anything whose `query(text, values)` answers `{ rows }` will do). tasklane runs its statements
 * on it in order and never commits, rolls back or releases it.
 */
export interface PostgresTransaction {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/**
 * A better-sqlite3 `Database` on the storage's file, inside `db.transaction(...)` or after
 * `db.exec('BEGIN')` (`inTransaction` is true). tasklane prepares its statements on it.
 */
export interface SqliteTransaction {
  readonly inTransaction: boolean;
  readonly open: boolean;
  readonly name: string;
  prepare(source: string): unknown;
}

/** What `trigger({ transaction })` accepts: the host's own open transaction. */
export type HostTransaction = PostgresTransaction | SqliteTransaction;

/** How far a host transaction is, as the adapter can tell. */
export type TransactionOutcome =
  /** not ended yet */
  | 'open'
  /** committed or rolled back: whether the runs are stored tells which */
  | 'ended';

/**
 * Storage seen from inside one host transaction, for one trigger (see `RunStorage.openTransaction`).
 * The engine calls `begin()` first, then any of the reads and `insertRuns`, then `end()` exactly
 * once; `outcome()` afterwards, until the host's transaction has ended.
 *
 * Every method may answer synchronously (better-sqlite3) or with a promise (pg): an adapter that
 * answers synchronously lets `trigger()` insert the run before it returns, which is what makes
 * it usable inside better-sqlite3's synchronous `db.transaction(fn)`.
 */
export interface TransactionSession {
  /**
   * checks the handle can be used now (in a transaction, on this storage's database), and makes
   * what follows undoable on its own; throws TransactionRefusedError, writing nothing, otherwise
   */
  begin(): MaybePromise<void>;
  /** as `RunStorage.findUnfinishedByKey`, seeing the transaction's own uncommitted runs */
  findUnfinishedByKey(definitionId: string, key: string): MaybePromise<RunRecord | null>;
  /** as `RunStorage.getRuns`, seeing the transaction's own uncommitted runs */
  getRuns(ids: string[]): MaybePromise<RunRecord[]>;
  /**
   * as `RunStorage.insertRuns` (same checks of the records, same idempotency-key answer), through
   * the host's transaction: the runs commit or roll back with the host's writes
   */
  insertRuns(runs: RunRecord[]): MaybePromise<Array<{ run: RunRecord; created: boolean }>>;
  /**
   * keeps (true) or undoes (false) what the session wrote, leaving the host's transaction usable
   * either way when the adapter can; a second call does nothing
   */
  end(keep: boolean): MaybePromise<void>;
  /** after `end(true)`: whether the host's transaction is still open */
  outcome(): MaybePromise<TransactionOutcome>;
}
