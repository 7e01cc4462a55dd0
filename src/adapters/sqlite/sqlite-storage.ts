import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { InvalidArgumentError, InvalidStateError, TransactionRefusedError } from '../../api/errors';
import type { ListLogsQuery, Page, RunLog, RunProgress } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type {
  EndedRuns,
  AbortResult,
  AbortRunsRequest,
  AbortRunsResult,
  ClaimRequest,
  DeleteRunResult,
  IterationUpdate,
  LeaseRenewal,
  LocalEntry,
  LocalWrite,
  LocalWriteResult,
  RenewResult,
  RunStorage,
  StorageCapabilities,
  StorageListRunsQuery,
  UpdateResult,
} from '../../ports/storage';
import type { HostTransaction } from '../../ports/transaction';
import { MAX_TIMER_MS, optionalDuration } from '../../util/duration';
import { sqliteDriver } from '../shared/drivers';
import { BusyRetry } from './busy-retry';
import { ClaimedRows } from './claimed-rows';
import { hostRunAccess } from './host-access';
import { migrateSqlite } from './migrations';
import { assertRecord, json, parse, toRecord } from './run-row';
import { normalise } from './sqlite-errors';
import { isSqliteDatabase, mainFileOf, sameFile, SqliteTransactionSession, type SqliteRunAccess } from './sqlite-transaction';
import { prepareStatements, type Statements } from './statements';
import { toLogParams } from './statements/append-logs';
import { toUpdateParams } from './statements/update-iterations';

export interface SqliteStorageOptions {
  /** the database file; its directory is created if missing. `:memory:` gives a private database. */
  file: string;
  /** how long a statement waits for another process's write lock before retrying (default 5000 ms) */
  busyTimeoutMs?: number;
}

/** WAL pages between automatic checkpoints (4 KiB pages: 64 MiB) */
const WAL_CHECKPOINT_PAGES = 16_384;

/**
 * {@link RunStorage} on one SQLite file (better-sqlite3), shared safely by several processes.
 *
 * - WAL, `synchronous = NORMAL`, `busy_timeout`. Every write that reads before it writes (claims,
 *   inserts with keys, aborts) runs in a `BEGIN IMMEDIATE` transaction, so processes serialise on
 *   the write lock and no run is claimed twice. SQLITE_BUSY that outlives busy_timeout is retried
 *   here with backoff (up to a minute) and never reaches the caller.
 * - Batch methods are one transaction per call: that is where the throughput is. Measured in
 *   batches of 100: insert ~13 µs, claim ~20 µs, complete ~17 µs per run (~17k runs/s end to end).
 * - Each operation's SQL, the code that runs it and the reasons for its shape are in one file of
 *   statements/, prepared once per connection (statements/index.ts). claim-runs.ts says why a
 *   claim reads each definition separately and names its index; update-iterations.ts why a run
 *   claimed here is written back with a short RETURNING, the rest taken from the row as claimed
 *   (kept until then in claimed-rows.ts), the runs of a batch in one `UPDATE ... FROM json_each(?)`.
 * - WAL checkpoints every 64 MiB of WAL rather than every 4 MiB (see open()).
 * - Run rows are read in raw mode (arrays), their columns by name (run-row.ts).
 * - All SQL is constant text with parameters; JSON columns are TEXT, dueAt/leaseExpiresAt INTEGER
 *   ms, timestamps the ISO strings of the record.
 *
 * better-sqlite3 is synchronous: the async methods wrap synchronous calls.
 */
export class SqliteStorage implements RunStorage {
  readonly capabilities: StorageCapabilities = Object.freeze({ durable: true, shared: true, transactions: true });
  readonly file: string;
  private readonly busyTimeoutMs: number;
  /** better-sqlite3, an optional peer dependency: loaded when the storage is created */
  private readonly driver: typeof Database;
  private db: Database.Database | undefined;
  private q: Statements | undefined;
  private opening: Promise<void> | undefined;
  /** rows this adapter claimed, until their lease is written back */
  private readonly claimed = new ClaimedRows();
  /** the file of the open database as SQLite names it (to recognise a host's connection to it) */
  private mainFile = '';
  /** the run statements prepared on host connections that triggered through their transaction */
  private readonly hostAccess = new WeakMap<Database.Database, SqliteRunAccess>();
  /** SQLITE_BUSY retried, busy_timeout lowered while a host connection holds the lock */
  private readonly busy: BusyRetry;

  constructor(options: SqliteStorageOptions) {
    if (typeof options?.file !== 'string' || options.file.length === 0) {
      throw new InvalidArgumentError('sqliteStorage({ file }) needs the path of the database file.');
    }
    const busy = optionalDuration(options.busyTimeoutMs, 'sqliteStorage: busyTimeoutMs', 5000);
    // SQLite keeps its busy timeout in a 32-bit int of ms
    if (!Number.isInteger(busy) || busy > MAX_TIMER_MS) {
      throw new InvalidArgumentError(`sqliteStorage: busyTimeoutMs must be an integer of ms up to ${MAX_TIMER_MS}, got ${busy}.`);
    }
    this.file = options.file;
    this.busyTimeoutMs = busy;
    this.busy = new BusyRetry(busy);
    this.driver = sqliteDriver('sqliteStorage()');
  }

  async init(): Promise<void> {
    if (this.db) return;
    this.opening ??= this.open().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async open(): Promise<void> {
    const inMemory = this.file === ':memory:';
    if (!inMemory) mkdirSync(dirname(resolve(this.file)), { recursive: true });
    let db: Database.Database;
    try {
      db = new this.driver(this.file, { timeout: this.busyTimeoutMs });
    } catch (error) {
      throw normalise(error);
    }
    try {
      // several processes opening a new file at once can briefly see SQLITE_BUSY here
      await this.retry(() => db.pragma('journal_mode = WAL'));
      db.pragma('synchronous = NORMAL');
      // WAL checkpoints (the only fsyncs under synchronous = NORMAL) every 64 MiB of WAL rather than
      // SQLite's 4 MiB: 20,000 runs/s instead of 15,500 (same machine, runs triggered at once);
      // the file is cut back to that size after a checkpoint
      db.pragma(`wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
      db.pragma(`journal_size_limit = ${WAL_CHECKPOINT_PAGES * 4096}`);
      await this.retry(() => migrateSqlite(db));
      this.q = prepareStatements(db);
      this.mainFile = mainFileOf(db);
    } catch (error) {
      db.close();
      throw error;
    }
    this.db = db;
    this.busy.connected(db);
  }

  async close(): Promise<void> {
    if (this.opening) await this.opening.catch(() => undefined);
    const db = this.db;
    this.db = undefined;
    this.busy.connected(undefined);
    this.q = undefined;
    this.claimed.clear();
    if (db?.open) db.close();
  }

  // ---------------------------------------------------------------- runs

  async insertRuns(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>> {
    const q = this.prepared();
    if (runs.length === 0) return [];
    for (const run of runs) assertRecord(run);
    return this.retry(() => q.insertRuns.immediate(runs));
  }

  /**
   * A transactional trigger through the host's own better-sqlite3 connection to this file: the
   * same statements and insert code as `insertRuns`, prepared once per host connection, run
   * synchronously in a savepoint of the host's transaction (see SqliteTransactionSession).
   * Refused with TransactionRefusedError: this storage not open yet (the insert must be
   * synchronous, so it cannot wait for init()), anything but a better-sqlite3 Database, a closed
   * or read-only one, one on another file (compared as SQLite names the main database, then by
   * device and inode), one not in a transaction.
   */
  openTransaction(tx: HostTransaction): SqliteTransactionSession {
    const what = 'trigger({ transaction }) on sqliteStorage';
    if (!this.db) {
      throw new TransactionRefusedError(
        `${what}: the storage (${this.file}) is not open yet; start the engine (or make any TaskService call) before the transaction.`,
      );
    }
    if (!isSqliteDatabase(tx)) {
      const kind = typeof (tx as { query?: unknown }).query === 'function' ? 'a PostgreSQL client' : 'something else';
      throw new TransactionRefusedError(`${what}: the transaction must be a better-sqlite3 Database on ${this.file}; got ${kind}.`);
    }
    if (!tx.open) throw new TransactionRefusedError(`${what}: the given Database is closed.`);
    if (tx.readonly) throw new TransactionRefusedError(`${what}: the given Database is read-only.`);
    const hostFile = mainFileOf(tx);
    if (!sameFile(hostFile, this.mainFile)) {
      throw new TransactionRefusedError(
        `${what}: the given Database is on ${hostFile === '' ? 'an in-memory database' : hostFile}, not on the storage's file ${this.mainFile || this.file}.`,
      );
    }
    if (!tx.inTransaction) {
      throw new TransactionRefusedError(
        `${what}: the given Database is not in a transaction; call trigger() inside db.transaction(fn), or after db.exec('BEGIN IMMEDIATE').`,
      );
    }
    let access = this.hostAccess.get(tx);
    if (!access) {
      access = hostRunAccess(tx);
      this.hostAccess.set(tx, access);
    }
    this.busy.hostInTransaction(tx);
    return new SqliteTransactionSession(tx, access, this.file);
  }

  async getRun(id: string): Promise<RunRecord | null> {
    const q = this.prepared();
    return this.retry(() => q.reads.getRun(id));
  }

  async getRuns(ids: string[]): Promise<RunRecord[]> {
    const q = this.prepared();
    if (ids.length === 0) return [];
    return this.retry(() => q.reads.getRuns(ids));
  }

  async getEndedRuns(ids: string[]): Promise<EndedRuns> {
    const q = this.prepared();
    return this.retry(() => q.reads.getEndedRuns(ids));
  }

  async listRuns(query: StorageListRunsQuery): Promise<Page<RunRecord>> {
    const q = this.prepared();
    return this.retry(() => q.listRuns(query));
  }

  async findUnfinishedByKey(definitionId: string, key: string): Promise<RunRecord | null> {
    const q = this.prepared();
    return this.retry(() => q.findByKey(definitionId, key));
  }

  async countPending(): Promise<Map<string, number>> {
    const q = this.prepared();
    return this.retry(() => q.countPending());
  }

  // ---------------------------------------------------------------- claims, iterations

  async claimRuns(request: ClaimRequest): Promise<RunRecord[]> {
    const q = this.prepared();
    if (!(request.limit >= 1) || request.slots.length === 0) return [];
    const { rows, recovered } = await this.retry(() => q.claimRuns.immediate(request));
    this.claimed.keep(rows);
    const runs = rows.map(toRecord);
    if (recovered.size > 0) for (const run of runs) if (recovered.has(run.id)) run.recovered = true;
    return runs;
  }

  async updateIterations(updates: IterationUpdate[]): Promise<UpdateResult[]> {
    const q = this.prepared();
    if (updates.length === 0) return [];
    const finishedOn = new Date().toISOString();
    // serialise (and so validate) everything before the transaction
    const params = updates.map((u) => toUpdateParams(u, finishedOn));
    const claimed = this.claimed.forUpdates(params);
    const results = await this.retry(() => q.updateIterations.immediate(params, claimed));
    this.claimed.release(params);
    return results;
  }

  async renewLeases(nodeId: string, leases: LeaseRenewal[], now: number, leaseMs: number): Promise<RenewResult> {
    const q = this.prepared();
    if (leases.length === 0) return { lost: [], abortRequested: [] };
    return this.retry(() => q.renewLeases.immediate(leases, now + leaseMs));
  }

  async requestAbort(id: string, message: string, now: string): Promise<AbortResult> {
    const q = this.prepared();
    return this.retry(() => q.requestAbort.immediate(id, String(message), now));
  }

  async saveProgress(id: string, progress: RunProgress): Promise<void> {
    const q = this.prepared();
    const text = json(progress);
    if (text === null) return;
    await this.retry(() => q.saveProgress(id, text));
  }

  // ---------------------------------------------------------------- logs

  async appendLogs(logs: RunLog[], maxPerRun: number): Promise<number> {
    const q = this.prepared();
    if (logs.length === 0) return 0;
    const rows = logs.map(toLogParams);
    return this.retry(() => q.appendLogs.immediate(rows, maxPerRun));
  }

  async listLogs(query: ListLogsQuery): Promise<Page<RunLog>> {
    const q = this.prepared();
    return this.retry(() => q.listLogs(query));
  }

  // ---------------------------------------------------------------- values

  async getValue(runId: string, key: string): Promise<unknown | undefined> {
    const q = this.prepared();
    const text = await this.retry(() => q.values.get(runId, key));
    return text === undefined ? undefined : parse(text);
  }

  async setValue(runId: string, key: string, value: unknown): Promise<void> {
    const q = this.prepared();
    const text = json(value);
    await this.retry(() => q.values.set(runId, key, text));
  }

  // ---------------------------------------------------------------- definitions, schedules, retention

  async getDisabledDefinitions(): Promise<Set<string>> {
    const q = this.prepared();
    return new Set(await this.retry(() => q.disabled.list()));
  }

  async setDefinitionDisabled(definitionId: string, disabled: boolean): Promise<void> {
    const q = this.prepared();
    await this.retry(() => q.disabled.set(definitionId, disabled));
  }

  async recordScheduleTick(scheduleId: string, tick: string): Promise<boolean> {
    const q = this.prepared();
    return this.retry(() => q.ticks.record(scheduleId, tick, new Date().toISOString()));
  }

  async lastScheduleTick(scheduleId: string): Promise<string | null> {
    const q = this.prepared();
    return this.retry(() => q.ticks.last(scheduleId));
  }

  async deleteFinishedBefore(before: string, limit: number): Promise<number> {
    const q = this.prepared();
    const max = Math.floor(limit);
    if (!(max > 0)) return 0;
    return this.retry(() => q.deleteRuns.finishedBefore.immediate(before, max));
  }

  async deleteRun(id: string): Promise<DeleteRunResult> {
    const q = this.prepared();
    return this.retry(() => q.deleteRuns.tree.immediate(id));
  }

  // ---------------------------------------------------------------- locals, restarts

  async readLocal(definitionId: string, key: string): Promise<LocalEntry> {
    const q = this.prepared();
    return this.retry(() => q.locals.read(definitionId, key));
  }

  async writeLocal(write: LocalWrite): Promise<LocalWriteResult> {
    const q = this.prepared();
    const text = json(write.value); // serialised first: a value JSON cannot hold writes nothing
    return this.retry(() => q.locals.write.immediate(write, text));
  }

  async listLocals(definitionId: string): Promise<Map<string, unknown>> {
    const q = this.prepared();
    return this.retry(() => q.locals.list(definitionId));
  }

  async restartDefinition(definitionId: string, cutoff: string): Promise<{ localsCleared: number }> {
    const q = this.prepared();
    return this.retry(() => q.restartDefinition.immediate(definitionId, cutoff));
  }

  async abortDefinitionRuns(request: AbortRunsRequest): Promise<AbortRunsResult> {
    const q = this.prepared();
    const limit = Math.floor(request.limit);
    if (!(limit > 0)) return { aborted: [], requested: [] };
    const error = JSON.stringify({ message: String(request.message), code: 'ABORTED' });
    return this.retry(() => q.abortDefinitionRuns.immediate(request.definitionId, request.before, error, request.now, limit));
  }

  private prepared(): Statements {
    if (!this.q) throw new InvalidStateError(`SQLite storage ${this.file} is not open: call init() first (or it was closed).`);
    return this.q;
  }

  private retry<T>(fn: () => T): Promise<T> {
    return this.busy.run(fn);
  }
}

export function sqliteStorage(options: SqliteStorageOptions): SqliteStorage {
  return new SqliteStorage(options);
}
