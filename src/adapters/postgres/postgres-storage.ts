import type { PoolClient } from 'pg';
import { MAX_TIMER_MS, optionalDuration } from '../../util/duration';
import { InvalidArgumentError, SchemaTooNewError, TasklaneError } from '../../api/errors';
import type { ListLogsQuery, Page, RunLog, RunProgress } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type {
  AbortResult,
  AbortRunsRequest,
  AbortRunsResult,
  ClaimRequest,
  DeleteRunResult,
  EndedRuns,
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
import { pgDriver } from '../shared/drivers';
import { migrate, quoteSchema } from './postgres-migrations';
import { connect, storageFailure } from './pg-support';
import type { PostgresIdentity, PostgresRunAccess, PostgresTransactionSession } from './postgres-transaction';
import { abortDefinitionRuns } from './storage/abort-definition-runs';
import { appendLogs } from './storage/append-logs';
import { RunClaims } from './storage/claim-runs';
import { ClaimedRows } from './storage/claimed-rows';
import { StorageConnections } from './storage/connections';
import { countPending } from './storage/count-pending';
import { getDisabledDefinitions, setDefinitionDisabled } from './storage/definition-state';
import { deleteFinishedBefore } from './storage/delete-finished-before';
import { deleteRun } from './storage/delete-run';
import { findUnfinishedByKey } from './storage/find-unfinished-by-key';
import { getEndedRuns, getRuns, RunReads } from './storage/get-runs';
import { InsertLanes, insertRuns, poolLink } from './storage/insert-runs';
import { InsertStatements } from './storage/insert-statement';
import { listLogs } from './storage/list-logs';
import { listRuns } from './storage/list-runs';
import { listLocals, readLocal, writeLocal } from './storage/locals';
import { renewLeases } from './storage/renew-leases';
import { requestAbort } from './storage/request-abort';
import { restartDefinition } from './storage/restart-definition';
import { getValue, setValue } from './storage/run-values';
import { saveProgress } from './storage/save-progress';
import { lastScheduleTick, recordScheduleTick } from './storage/schedule-ticks';
import { openTransaction, transactionAccess } from './storage/transaction-access';
import { updateIterations } from './storage/update-iterations';
import { UpdateStatements } from './storage/update-statement';

export interface PostgresStorageOptions {
  /** e.g. `postgres://user:pass@host:5432/db` */
  connectionString: string;
  /** the schema holding tasklane's tables (default `tasklane`); /^[a-z_][a-z0-9_]{0,62}$/ */
  schema?: string;
  /** connections in the pool (default 10); claims use up to two more of their own */
  poolSize?: number;
  /** ms to wait for a connection before an operation fails (default 10000) */
  connectionTimeoutMs?: number;
  /**
   * ms one operation may take before its connection is dropped as dead (a half-open link never
   * answers); reads are then retried on a fresh connection (default 30000)
   */
  queryTimeoutMs?: number;
  /** `application_name` of the connections, seen in pg_stat_activity (default `tasklane-storage`) */
  applicationName?: string;
  /**
   * ms an operation keeps retrying while no connection can be made (a server restart); nothing
   * was sent, so this is safe for every operation (default 5000)
   */
  reconnectWindowMs?: number;
}

/**
 * Runs, logs, per-run values, definition state and schedule ticks in a PostgreSQL schema of their
 * own (default `tasklane`). See `RunStorage` for the contract. Each operation is a file of
 * `./storage/` holding its SQL and why it is written so; this class holds the state they share.
 *
 * - Claims lock candidate rows with `FOR UPDATE SKIP LOCKED` (a per-definition LATERAL with a limit),
 *   spread the batch round-robin across definitions, and serialise the claims of a definition that
 *   has a concurrency limit with a transaction-scoped advisory lock, so the limit holds across every
 *   node sharing the database.
 * - Batches (`insertRuns`, `updateIterations`, `appendLogs`, `renewLeases`, `claimRuns`) are one
 *   statement each (one JSON or array parameter), so many runs cost one round-trip.
 * - A pool error (a backend killed by `pg_terminate_backend`, a restart) never reaches the process;
 *   it is reported to `onError` listeners (the PostgreSQL distribution forwards them to the engine).
 *   While no connection can be made, an operation waits up to `reconnectWindowMs` for the server
 *   (nothing was sent). When the link breaks under a statement, reads and idempotent writes
 *   (`insertRuns` by id, `claimRuns`, `updateIterations` with a check, `renewLeases`, progress,
 *   values, definition state) are retried once on a fresh connection; the others (`requestAbort`,
 *   `appendLogs`, `recordScheduleTick`), which might have been applied, fail with
 *   {@link StorageError}. Deadlock victims are retried. A statement that does not answer within
 *   `queryTimeoutMs` (a half-open link) has its connection destroyed. The pool reconnects by itself.
 * - Values are stored as `json` (not `jsonb`): exact text, key order kept, `\u0000` allowed inside
 *   JSON strings. Identifiers and other plain text columns cannot hold NUL (refused with
 *   InvalidArgumentError); log messages have it replaced by U+FFFD.
 * - Requires PostgreSQL 13 or later (`gen_random_uuid()`).
 */
export class PostgresStorage implements RunStorage {
  readonly capabilities: StorageCapabilities = { durable: true, shared: true, transactions: true };
  readonly schema: string;
  readonly connectionString: string;

  private readonly db: StorageConnections;
  private initPromise: Promise<void> | undefined;
  /** the database and runs table this storage uses (read at init): a host's transaction must be on them */
  private identity: PostgresIdentity | undefined;
  private readonly claimed = new ClaimedRows();
  private readonly reads: RunReads;
  private readonly insertStatements: InsertStatements;
  private readonly inserts: InsertLanes;
  private readonly claims: RunClaims;
  private readonly updateStatements: UpdateStatements;
  private readonly transactionAccess: PostgresRunAccess;

  constructor(options: PostgresStorageOptions) {
    if (!options || typeof options.connectionString !== 'string' || options.connectionString.length === 0) {
      throw new InvalidArgumentError('postgresStorage: `connectionString` is required.');
    }
    this.connectionString = options.connectionString;
    this.schema = options.schema ?? 'tasklane';
    quoteSchema(this.schema); // refused first, before the other options
    const poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(poolSize) || poolSize < 1) {
      throw new InvalidArgumentError('postgresStorage: `poolSize` must be a positive integer.');
    }
    this.db = new StorageConnections({
      connectionString: options.connectionString,
      schema: this.schema,
      poolSize,
      // timeouts longer than a Node timer holds wait as long as one can (about 24.8 days)
      connectionTimeoutMs: Math.min(optionalDuration(options.connectionTimeoutMs, 'postgresStorage: `connectionTimeoutMs`', 10_000, 1), MAX_TIMER_MS),
      queryTimeoutMs: Math.min(optionalDuration(options.queryTimeoutMs, 'postgresStorage: `queryTimeoutMs`', 30_000, 1), MAX_TIMER_MS),
      reconnectWindowMs: optionalDuration(options.reconnectWindowMs, 'postgresStorage: `reconnectWindowMs`', 5000),
      applicationName: options.applicationName ?? 'tasklane-storage',
    });
    pgDriver('postgresStorage()'); // an optional peer dependency: missing, it is said now
    this.reads = new RunReads(this.db);
    this.insertStatements = new InsertStatements(this.db.s);
    this.inserts = new InsertLanes((runs, rows) => insertRuns(this.db.s, this.insertStatements, poolLink(this.db), runs, rows));
    this.claims = new RunClaims(this.db, this.claimed);
    this.updateStatements = new UpdateStatements(this.db.s);
    this.transactionAccess = transactionAccess(this.db, this.insertStatements, async () => {
      if (!this.identity) await this.init();
      return this.identity!;
    });
  }

  /**
   * Receives connection faults the storage recovered from (idle clients killed, reconnects).
   * Returns a function that removes the listener.
   */
  onError(listener: (error: Error) => void): () => void {
    return this.db.onError(listener);
  }

  /** The most recent pool-level fault (for diagnostics). */
  get lastError(): Error | undefined {
    return this.db.lastError;
  }

  /** Connects and migrates; after close() it opens again. */
  init(): Promise<void> {
    this.db.open();
    this.initPromise ??= this.doInit().catch((err) => {
      this.initPromise = undefined;
      throw err;
    });
    return this.initPromise;
  }

  private async doInit(): Promise<void> {
    const pool = this.db.mainPool();
    let client: PoolClient;
    try {
      client = await connect(pool);
    } catch (err) {
      throw storageFailure('PostgreSQL storage: connecting', err);
    }
    try {
      await migrate(client, this.schema);
      const res = await client.query<{ database: string; runs: string | null }>('select current_database() as database, to_regclass($1)::oid::text as runs', [
        `${this.db.s}.runs`,
      ]);
      this.identity = { database: res.rows[0].database, runsTable: res.rows[0].runs };
      client.release();
    } catch (err) {
      client.release(true);
      if (err instanceof SchemaTooNewError || TasklaneError.is(err)) throw err;
      throw storageFailure(`PostgreSQL storage: migrating schema "${this.schema}"`, err);
    }
  }

  async close(): Promise<void> {
    if (this.db.isClosed) return;
    this.reads.flushNow(); // pending reads finish before the pool goes
    this.initPromise = undefined;
    this.claimed.clear();
    await this.db.close();
  }

  /** See openTransaction in ./storage/transaction-access. */
  openTransaction(tx: HostTransaction): PostgresTransactionSession {
    return openTransaction(tx, this.transactionAccess);
  }

  // runs

  insertRuns(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>> {
    return this.inserts.insert(runs);
  }

  getRun(id: string): Promise<RunRecord | null> {
    return this.reads.getRun(id);
  }

  getRuns(ids: string[]): Promise<RunRecord[]> {
    return getRuns(this.db, ids);
  }

  getEndedRuns(ids: string[]): Promise<EndedRuns> {
    return getEndedRuns(this.db, ids);
  }

  listRuns(query: StorageListRunsQuery): Promise<Page<RunRecord>> {
    return listRuns(this.db, query);
  }

  findUnfinishedByKey(definitionId: string, key: string): Promise<RunRecord | null> {
    return findUnfinishedByKey(this.db, definitionId, key);
  }

  countPending(): Promise<Map<string, number>> {
    return countPending(this.db);
  }

  // claims and iterations

  claimRuns(request: ClaimRequest): Promise<RunRecord[]> {
    return this.claims.claim(request);
  }

  updateIterations(updates: IterationUpdate[]): Promise<UpdateResult[]> {
    return updateIterations(this.db, this.updateStatements, this.claimed, (id) => this.getRun(id), updates);
  }

  renewLeases(nodeId: string, leases: LeaseRenewal[], now: number, leaseMs: number): Promise<RenewResult> {
    return renewLeases(this.db, this.claimed, nodeId, leases, now, leaseMs);
  }

  requestAbort(id: string, message: string, now: string): Promise<AbortResult> {
    return requestAbort(this.db, (runId) => this.getRun(runId), id, message, now);
  }

  saveProgress(id: string, progress: RunProgress): Promise<void> {
    return saveProgress(this.db, id, progress);
  }

  // logs

  appendLogs(logs: RunLog[], maxPerRun: number): Promise<number> {
    return appendLogs(this.db, logs, maxPerRun);
  }

  listLogs(query: ListLogsQuery): Promise<Page<RunLog>> {
    return listLogs(this.db, query);
  }

  // values, definitions, schedules

  getValue(runId: string, key: string): Promise<unknown | undefined> {
    return getValue(this.db, runId, key);
  }

  setValue(runId: string, key: string, value: unknown): Promise<void> {
    return setValue(this.db, runId, key, value);
  }

  getDisabledDefinitions(): Promise<Set<string>> {
    return getDisabledDefinitions(this.db);
  }

  setDefinitionDisabled(definitionId: string, disabled: boolean): Promise<void> {
    return setDefinitionDisabled(this.db, definitionId, disabled);
  }

  recordScheduleTick(scheduleId: string, tick: string): Promise<boolean> {
    return recordScheduleTick(this.db, scheduleId, tick);
  }

  lastScheduleTick(scheduleId: string): Promise<string | null> {
    return lastScheduleTick(this.db, scheduleId);
  }

  deleteFinishedBefore(before: string, limit: number): Promise<number> {
    return deleteFinishedBefore(this.db, before, limit);
  }

  deleteRun(id: string): Promise<DeleteRunResult> {
    return deleteRun(this.db, (runId) => this.getRun(runId), id);
  }

  // locals, restarts

  readLocal(definitionId: string, key: string): Promise<LocalEntry> {
    return readLocal(this.db, definitionId, key);
  }

  writeLocal(write: LocalWrite): Promise<LocalWriteResult> {
    return writeLocal(this.db, write);
  }

  listLocals(definitionId: string): Promise<Map<string, unknown>> {
    return listLocals(this.db, definitionId);
  }

  restartDefinition(definitionId: string, cutoff: string): Promise<{ localsCleared: number }> {
    return restartDefinition(this.db, definitionId, cutoff);
  }

  abortDefinitionRuns(request: AbortRunsRequest): Promise<AbortRunsResult> {
    return abortDefinitionRuns(this.db, request);
  }

  // for the distribution and the admin helpers

  /** Runs `fn` with a pooled client (retried only while no connection can be made): for admin tools and tests. */
  withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.db.exec('write', 'query', fn);
  }
}

export function postgresStorage(options: PostgresStorageOptions): PostgresStorage {
  return new PostgresStorage(options);
}
