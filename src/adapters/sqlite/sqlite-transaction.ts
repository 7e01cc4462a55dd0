import { statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { TransactionRefusedError } from '../../api/errors';
import type { RunRecord } from '../../ports/run-record';
import type { TransactionOutcome, TransactionSession } from '../../ports/transaction';

/** What a session runs on the host's connection: the storage's own statements, prepared on it. */
export interface SqliteRunAccess {
  findUnfinishedByKey(definitionId: string, key: string): RunRecord | null;
  getRuns(ids: string[]): RunRecord[];
  /** one savepoint inside the host's transaction (better-sqlite3 nests `db.transaction()` so) */
  insertRuns(runs: RunRecord[]): Array<{ run: RunRecord; created: boolean }>;
}

/**
 * A transactional trigger on a host's better-sqlite3 connection: every answer is synchronous,
 * so `trigger()` inserts the run before it returns and works inside `db.transaction(fn)`.
 *
 * better-sqlite3 facts this relies on (lib/methods/transaction.js, database.js):
 * - `db.inTransaction` is true between BEGIN and COMMIT/ROLLBACK, however they were issued;
 * - a `db.transaction(fn)` called while one is open runs `fn` in a SAVEPOINT, released on return
 *   and rolled back to on a throw: the insert is all or nothing inside the host's transaction;
 * - a transaction function cannot be asynchronous, so a host transaction made by
 *   `db.transaction(fn)` has ended by the next tick.
 *
 * The host's connection has its own busy_timeout: an insert that waits for another process's
 * write lock waits on it, and SQLITE_BUSY is not retried here (the host's transaction may have
 * to start again). `BEGIN IMMEDIATE` takes the write lock up front and avoids that.
 */
export class SqliteTransactionSession implements TransactionSession {
  constructor(
    private readonly db: Database.Database,
    private readonly access: SqliteRunAccess,
    private readonly file: string,
  ) {}

  begin(): void {
    this.assertOpen('trigger({ transaction })');
  }

  findUnfinishedByKey(definitionId: string, key: string): RunRecord | null {
    return this.access.findUnfinishedByKey(definitionId, key);
  }

  getRuns(ids: string[]): RunRecord[] {
    return this.access.getRuns(ids);
  }

  insertRuns(runs: RunRecord[]): Array<{ run: RunRecord; created: boolean }> {
    // an asynchronous onBeforeTrigger moved the insert to a later tick: the transaction must still be open
    this.assertOpen('the insert of trigger({ transaction })');
    return this.access.insertRuns(runs);
  }

  end(): void {
    // the insert was its own savepoint: released already, or rolled back when it threw
  }

  outcome(): TransactionOutcome {
    return this.db.open && this.db.inTransaction ? 'open' : 'ended';
  }

  private assertOpen(what: string): void {
    if (!this.db.open) throw new TransactionRefusedError(`${what}: the better-sqlite3 Database on ${this.file} is closed.`);
    if (!this.db.inTransaction) {
      throw new TransactionRefusedError(
        `${what}: the better-sqlite3 Database on ${this.file} is not in a transaction. Call trigger() inside db.transaction(fn) (with no asynchronous onBeforeTrigger), or after db.exec('BEGIN IMMEDIATE') and await it before COMMIT.`,
      );
    }
  }
}

/** the shape of a better-sqlite3 Database, checked at run time (another copy of the module may have made it) */
export function isSqliteDatabase(value: object): value is Database.Database {
  const v = value as Partial<Record<'prepare' | 'transaction' | 'pragma' | 'inTransaction' | 'open', unknown>>;
  return (
    typeof v.prepare === 'function' &&
    typeof v.transaction === 'function' &&
    typeof v.pragma === 'function' &&
    typeof v.inTransaction === 'boolean' &&
    typeof v.open === 'boolean'
  );
}

/** the file of a connection's main database ('' for an in-memory or temporary one) */
export function mainFileOf(db: Database.Database): string {
  const list = db.pragma('database_list') as Array<{ name: string; file: string }>;
  return list.find((d) => d.name === 'main')?.file ?? '';
}

/** whether two main-database paths are the same file (another path to it, a hard link, included) */
export function sameFile(a: string, b: string): boolean {
  if (a === '' || b === '') return false;
  if (a === b) return true;
  try {
    const x = statSync(a);
    const y = statSync(b);
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}
