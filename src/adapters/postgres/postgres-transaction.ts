import { TasklaneError, TransactionRefusedError } from '../../api/errors';
import type { RunRecord } from '../../ports/run-record';
import type { PostgresTransaction, TransactionOutcome, TransactionSession } from '../../ports/transaction';
import { codeOf, storageFailure } from './pg-support';

/** Which database and runs table a connection sees: a host's must see the storage's. */
export interface PostgresIdentity {
  database: string;
  /** oid of `<schema>.runs` as text; null when the connection's database has no such table */
  runsTable: string | null;
}

/** What a session asks of the storage (its SQL and its own connections). */
export interface PostgresRunAccess {
  /** `"schema".runs`, for to_regclass() */
  runsTableName(): string;
  /** the storage's own identity (read on its pool at init) */
  identity(): Promise<PostgresIdentity>;
  findUnfinishedByKey(tx: PostgresTransaction, definitionId: string, key: string): Promise<RunRecord | null>;
  getRuns(tx: PostgresTransaction, ids: string[]): Promise<RunRecord[]>;
  insertRuns(tx: PostgresTransaction, runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>>;
  /** pg_xact_status of a top-level transaction id, read on the storage's pool */
  transactionStatus(xid: string): Promise<string | null>;
}

const SAVEPOINT = 'tasklane_trigger';

/** the session currently using each host connection (see begin) */
const busy = new WeakMap<object, Promise<void>>();

/**
 * A transactional trigger on a host's `pg` connection after `BEGIN`.
 *
 * - `begin()` sets a SAVEPOINT: PostgreSQL refuses one outside a transaction block (25P01) and in
 *   an aborted transaction (25P02), which is how a client that is not in a usable transaction is
 *   told apart, exactly and before anything is written. Then one statement reads the top-level
 *   transaction id (`pg_current_xact_id()`, kept to learn later how the transaction ended), the
 *   database and the oid of `<schema>.runs`: a client on another database, or one without
 *   tasklane's schema, is refused.
 * - Everything up to `end()` is inside the savepoint: `end(true)` releases it (the run, and the
 *   wake-up NOTIFY sent through the same client, now belong to the host's transaction);
 *   `end(false)` rolls back to it, so a refused or failed trigger leaves the host's transaction
 *   usable and unchanged.
 * - Sessions on one connection run one after another (a savepoint released by one session would
 *   release the savepoints set after it by another).
 * - `outcome()` reads `pg_xact_status()` of the kept id on the storage's own pool: 'in progress'
 *   while the host has not committed or rolled back.
 *
 * PostgreSQL facts this relies on: a NOTIFY issued in a transaction is delivered at commit and
 * dropped at rollback (or with a rolled-back savepoint); a unique-index conflict with an
 * uncommitted row of another transaction waits for that transaction, so an idempotency key held
 * by an open transaction makes a second trigger with the key wait for its commit or rollback.
 */
export class PostgresTransactionSession implements TransactionSession {
  private state: 'new' | 'begun' | 'ended' = 'new';
  private xid: string | undefined;
  private releaseConnection: (() => void) | undefined;

  constructor(
    private readonly tx: PostgresTransaction,
    private readonly access: PostgresRunAccess,
  ) {}

  async begin(): Promise<void> {
    if (this.state !== 'new') return;
    const previous = busy.get(this.tx);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    busy.set(this.tx, previous ? previous.then(() => mine) : mine);
    if (previous) await previous;
    this.releaseConnection = release;
    try {
      await this.savepoint();
      this.state = 'begun';
      await this.checkIdentity().catch(async (err: unknown) => {
        await this.end(false);
        throw err;
      });
    } catch (err) {
      this.free();
      throw err;
    }
  }

  findUnfinishedByKey(definitionId: string, key: string): Promise<RunRecord | null> {
    return this.access.findUnfinishedByKey(this.tx, definitionId, key);
  }

  getRuns(ids: string[]): Promise<RunRecord[]> {
    return this.access.getRuns(this.tx, ids);
  }

  insertRuns(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>> {
    return this.access.insertRuns(this.tx, runs);
  }

  async end(keep: boolean): Promise<void> {
    if (this.state !== 'begun') return;
    this.state = 'ended';
    try {
      if (keep) {
        await this.query(`release savepoint ${SAVEPOINT}`, 'releasing its savepoint');
      } else {
        await this.tx.query(`rollback to savepoint ${SAVEPOINT}`).catch(() => undefined);
        await this.tx.query(`release savepoint ${SAVEPOINT}`).catch(() => undefined);
      }
    } finally {
      this.free();
    }
  }

  async outcome(): Promise<TransactionOutcome> {
    if (this.xid === undefined) return 'ended';
    return (await this.access.transactionStatus(this.xid)) === 'in progress' ? 'open' : 'ended';
  }

  private free(): void {
    this.releaseConnection?.();
    this.releaseConnection = undefined;
  }

  private async savepoint(): Promise<void> {
    try {
      await this.tx.query(`savepoint ${SAVEPOINT}`);
    } catch (err) {
      const code = codeOf(err);
      if (code === '25P01') {
        throw new TransactionRefusedError(
          "trigger({ transaction }) on postgresStorage: the client is not in a transaction; issue (and await) client.query('BEGIN') first.",
          err,
        );
      }
      if (code === '25P02') {
        throw new TransactionRefusedError(
          'trigger({ transaction }) on postgresStorage: the transaction is aborted (an earlier statement failed); roll it back.',
          err,
        );
      }
      throw asStorageError(err, 'setting its savepoint');
    }
  }

  private async checkIdentity(): Promise<void> {
    const rows = (await this.query(
      'select pg_current_xact_id()::text as xid, current_database() as database, to_regclass($1)::oid::text as runs',
      'checking its database',
      [this.access.runsTableName()],
    )) as Array<{ xid: string; database: string; runs: string | null }>;
    const row = rows[0];
    const own = await this.access.identity();
    if (!row || row.database !== own.database || row.runs === null || row.runs !== own.runsTable) {
      const where = !row
        ? 'an unknown database'
        : row.runs === null
          ? `database "${row.database}", which has no ${this.access.runsTableName()}`
          : `database "${row.database}"`;
      throw new TransactionRefusedError(
        `trigger({ transaction }) on postgresStorage: the client is connected to ${where}, not to the storage's ${this.access.runsTableName()} in database "${own.database}".`,
      );
    }
    this.xid = row.xid;
  }

  private async query(text: string, what: string, values?: unknown[]): Promise<unknown[]> {
    try {
      return (await this.tx.query(text, values)).rows;
    } catch (err) {
      throw asStorageError(err, what);
    }
  }
}

function asStorageError(err: unknown, what: string): Error {
  if (TasklaneError.is(err)) return err;
  return storageFailure(`PostgreSQL storage: a transactional trigger, ${what},`, err);
}
