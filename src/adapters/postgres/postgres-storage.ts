import type { Pool, PoolClient, QueryResultRow } from 'pg';
import { MAX_TIMER_MS, optionalDuration } from '../../util/duration';
import { errorMessage } from '../../util/safe-string';
import { InvalidArgumentError, SchemaTooNewError, StorageError, TasklaneError, TransactionRefusedError } from '../../api/errors';
import type { RetryPolicy } from '../../api/retry-policy';
import type { ListLogsQuery, LogType, Page, RunLog, RunProgress, RunStatus } from '../../api/types';
import { isFinished } from '../../api/types';
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
import type { HostTransaction, PostgresTransaction } from '../../ports/transaction';
import { pgDriver } from '../shared/drivers';
import { RecentMap } from './bounded';
import { migrate, quoteSchema } from './postgres-migrations';
import {
  codeOf,
  ConnectError,
  connect,
  createManagedPool,
  destroySocket,
  isConnectionError,
  isDeadlockOrSerialization,
  sleep,
  endPool,
  storageFailure,
  withTimeout,
} from './pg-support';
import { PostgresTransactionSession, type PostgresIdentity, type PostgresRunAccess } from './postgres-transaction';

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

/** Where a statement's failure leaves us. */
type OpKind =
  /** no side effect: retried once on a broken connection */
  | 'read'
  /** applying it twice is the same as once: retried once on a broken connection */
  | 'idempotent'
  /** retried only when it certainly did not take effect (no connection, deadlock victim) */
  | 'write';

class CommitFailedError extends Error {
  constructor(readonly original: unknown) {
    super(errorMessage(original));
    this.name = 'CommitFailedError';
  }
}

interface RunRow extends QueryResultRow {
  id: string;
  definition_id: string;
  name: string;
  status: RunStatus;
  input: string | null;
  output: string | null;
  error: string | null;
  progress: string | null;
  iterations: number;
  attempt: number;
  parent_id: string | null;
  key: string | null;
  context: string | null;
  after_id: string | null;
  run_at: string | null;
  scheduled_for: string | null;
  created_on: string;
  started_on: string | null;
  finished_on: string | null;
  node_id: string | null;
  due_at: number;
  target_node_id: string | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  abort_requested: boolean;
  recoveries: number;
  log_count: number;
  backfilled: boolean;
  retries: number;
  retry_of: string | null;
  retry_policy: string | null;
  original_input: string | null;
  iteration_base: number;
}

const RUN_COLUMN_NAMES = [
  'id',
  'definition_id',
  'name',
  'status',
  'input',
  'output',
  'error',
  'progress',
  'iterations',
  'attempt',
  'parent_id',
  'key',
  'context',
  'after_id',
  'run_at',
  'scheduled_for',
  'created_on',
  'started_on',
  'finished_on',
  'node_id',
  'due_at',
  'target_node_id',
  'lease_token',
  'lease_expires_at',
  'abort_requested',
  'recoveries',
  'log_count',
  'backfilled',
  'retries',
  'retry_of',
  'retry_policy',
  'original_input',
  'iteration_base',
] as const;

function cols(alias?: string): string {
  return RUN_COLUMN_NAMES.map((c) => (alias ? `${alias}.${c}` : c)).join(', ');
}

/** columns whose value a client's default type parsers would change (json parsed, bigint as text) */
const RETYPED_COLUMNS: ReadonlySet<string> = new Set(['input', 'output', 'error', 'progress', 'context', 'due_at', 'lease_expires_at', 'retry_policy', 'original_input']);

/**
 * {@link cols} for a host's connection, whose type parsers are not the storage's: json and bigint
 * columns are read as text, which {@link toRecord} decodes.
 */
function portableCols(alias: string): string {
  return RUN_COLUMN_NAMES.map((c) => (RETYPED_COLUMNS.has(c) ? `${alias}.${c}::text as ${c}` : `${alias}.${c}`)).join(', ');
}

const UNFINISHED = `('pending', 'running')`;

/**
 * The key of runs_running_lease_idx (migration 2): the lowest bigint for a parked run (no lease),
 * else its lease expiry. A claim reads the range `key <= now` (parked and expired runs, then
 * checked exactly) and never the live leases.
 */
const LEASE_KEY = `(case when r.lease_token is null then -9223372036854775807 - 1 else coalesce(r.lease_expires_at, 0) end)`;

/** fixed SQL fragments per status (listRuns by definition picks among them) */
const STATUS_PREDICATE: Record<RunStatus, string> = {
  pending: `status = 'pending'`,
  running: `status = 'running'`,
  success: `status = 'success'`,
  failed: `status = 'failed'`,
  aborted: `status = 'aborted'`,
};

/** the statuses each partial index of migration 2 covers, with its predicate */
const STATUS_GROUPS: ReadonlyArray<{ statuses: RunStatus[]; predicate: string; fence?: boolean }> = [
  { statuses: ['pending'], predicate: `status = 'pending'` },
  { statuses: ['running'], predicate: `status = 'running'`, fence: true },
  { statuses: ['success', 'failed', 'aborted'], predicate: `status in ('success', 'failed', 'aborted')` },
];
const FINISHED = `('success', 'failed', 'aborted')`;

/** JSON text of a value, or null for `undefined` (SQL NULL = absent; JSON null stays JSON null). */
function jsonText(value: unknown): string | null {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  return text === undefined ? null : text;
}

function parseJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

let lastIso: { text: string; ms: number | null } = { text: '', ms: null };

function isoToMs(iso: string | undefined): number | null {
  if (iso === undefined || iso === null) return null;
  // runs ending in the same millisecond share their ISO string: parse it once
  if (iso === lastIso.text) return lastIso.ms;
  const ms = Date.parse(iso);
  lastIso = { text: iso, ms: Number.isFinite(ms) ? ms : null };
  return lastIso.ms;
}

function intMs(value: number | undefined): number | null {
  if (value === undefined || value === null) return null;
  if (!Number.isFinite(value)) throw new InvalidArgumentError(`Not a finite epoch ms: ${value}`);
  return Math.round(value);
}

/** PostgreSQL text cannot hold NUL, nor (through JSON) a lone surrogate. */
const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_TEXT_ALL = new RegExp(UNSTORABLE_TEXT.source, 'g');

function storable(value: string): boolean {
  return !UNSTORABLE_TEXT.test(value);
}

/** An identifier or other exact text: refused when PostgreSQL cannot store it as given. */
function exactText(value: string | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new InvalidArgumentError(`PostgreSQL storage: ${field} must be a string.`);
  if (!storable(value)) {
    throw new InvalidArgumentError(`PostgreSQL storage: ${field} contains a NUL character or a lone surrogate, which PostgreSQL text cannot store.`);
  }
  return value;
}

/** Free text (log messages): what PostgreSQL cannot store becomes U+FFFD. */
function freeText(value: string): string {
  const text = typeof value === 'string' ? value : String(value);
  return storable(text) ? text : text.replace(UNSTORABLE_TEXT_ALL, '\ufffd');
}

function toRecord(r: RunRow): RunRecord {
  const run: RunRecord = {
    id: r.id,
    definitionId: r.definition_id,
    name: r.name,
    status: r.status,
    input: parseJson(r.input),
    iterations: r.iterations,
    attempt: r.attempt,
    retries: r.retries,
    createdOn: r.created_on,
    dueAt: Number(r.due_at),
    abortRequested: r.abort_requested,
    recoveries: r.recoveries,
    logCount: r.log_count,
    iterationBase: r.iteration_base,
  };
  if (r.output !== null) run.output = parseJson(r.output);
  if (r.error !== null) run.error = parseJson(r.error) as RunRecord['error'];
  if (r.progress !== null) run.progress = parseJson(r.progress) as RunProgress;
  if (r.parent_id !== null) run.parentId = r.parent_id;
  if (r.key !== null) run.key = r.key;
  if (r.retry_of !== null) run.retryOf = r.retry_of;
  if (r.retry_policy !== null) run.retryPolicy = parseJson(r.retry_policy) as RetryPolicy;
  if (r.original_input !== null) run.originalInput = parseJson(r.original_input);
  if (r.context !== null) run.context = parseJson(r.context) as RunRecord['context'];
  if (r.after_id !== null) run.after = r.after_id;
  if (r.run_at !== null) run.runAt = r.run_at;
  if (r.scheduled_for !== null) run.scheduledFor = r.scheduled_for;
  if (r.backfilled) run.backfilled = true;
  if (r.started_on !== null) run.startedOn = r.started_on;
  if (r.finished_on !== null) run.finishedOn = r.finished_on;
  if (r.node_id !== null) run.nodeId = r.node_id;
  if (r.target_node_id !== null) run.targetNodeId = r.target_node_id;
  if (r.lease_token !== null) run.leaseToken = r.lease_token;
  if (r.lease_expires_at !== null) run.leaseExpiresAt = Number(r.lease_expires_at);
  return run;
}

/**
 * {@link toRecord} for a row fetched with `rowMode: 'array'`: the run's columns in
 * {@link RUN_COLUMN_NAMES} order from position `o` (hot paths: claims, completions, reads).
 */
function decodeRun(a: unknown[], o = 0): RunRecord {
  const run: RunRecord = {
    id: a[o] as string,
    definitionId: a[o + 1] as string,
    name: a[o + 2] as string,
    status: a[o + 3] as RunStatus,
    input: parseJson(a[o + 4] as string | null),
    iterations: a[o + 8] as number,
    attempt: a[o + 9] as number,
    retries: a[o + 28] as number,
    createdOn: a[o + 16] as string,
    dueAt: Number(a[o + 20]),
    abortRequested: a[o + 24] as boolean,
    recoveries: a[o + 25] as number,
    logCount: a[o + 26] as number,
    iterationBase: a[o + 32] as number,
  };
  let v = a[o + 5];
  if (v !== null) run.output = JSON.parse(v as string);
  if ((v = a[o + 6]) !== null) run.error = JSON.parse(v as string) as RunRecord['error'];
  if ((v = a[o + 7]) !== null) run.progress = JSON.parse(v as string) as RunProgress;
  if ((v = a[o + 10]) !== null) run.parentId = v as string;
  if ((v = a[o + 11]) !== null) run.key = v as string;
  if ((v = a[o + 29]) !== null) run.retryOf = v as string;
  if ((v = a[o + 30]) !== null) run.retryPolicy = JSON.parse(v as string) as RetryPolicy;
  if ((v = a[o + 31]) !== null) run.originalInput = JSON.parse(v as string);
  if ((v = a[o + 12]) !== null) run.context = JSON.parse(v as string) as RunRecord['context'];
  if ((v = a[o + 13]) !== null) run.after = v as string;
  if ((v = a[o + 14]) !== null) run.runAt = v as string;
  if ((v = a[o + 15]) !== null) run.scheduledFor = v as string;
  if (a[o + 27] === true) run.backfilled = true;
  if ((v = a[o + 17]) !== null) run.startedOn = v as string;
  if ((v = a[o + 18]) !== null) run.finishedOn = v as string;
  if ((v = a[o + 19]) !== null) run.nodeId = v as string;
  if ((v = a[o + 21]) !== null) run.targetNodeId = v as string;
  if ((v = a[o + 22]) !== null) run.leaseToken = v as string;
  if ((v = a[o + 23]) !== null) run.leaseExpiresAt = Number(v);
  return run;
}

/**
 * The columns an update sets, in the order updateIterations passes them; `set` is the fixed SET
 * clause for a value expression (a parameter or an unnest() column; for `error`, the value
 * expression that updateStatement assigns), `unset` the value meaning "leave the column as it is".
 */
const UPDATE_COLUMNS: ReadonlyArray<{ name: string; sqlType: 'text' | 'bigint' | 'integer'; unset: string | number | null; set: (v: string) => string }> = [
  { name: 'status', sqlType: 'text', unset: null, set: (v) => `status = ${v}` },
  { name: 'due_at', sqlType: 'bigint', unset: null, set: (v) => `due_at = coalesce(${v}, r.due_at)` },
  {
    name: 'input',
    sqlType: 'text',
    unset: null,
    // the first change of input keeps the original (SET expressions read the row as it was)
    set: (v) => `original_input = case when ${v} is not null then coalesce(r.original_input, r.input) else r.original_input end, input = coalesce(${v}::json, r.input)`,
  },
  { name: 'output', sqlType: 'text', unset: null, set: (v) => `output = coalesce(${v}::json, r.output)` },
  // an expression, not an assignment: updateStatement assigns it unless the update is a success
  // (which clears the error: the failure of an execution that was retried)
  { name: 'error', sqlType: 'text', unset: null, set: (v) => `coalesce(${v}::json, r.error)` },
  { name: 'progress', sqlType: 'text', unset: null, set: (v) => `progress = coalesce(${v}::json, r.progress)` },
  { name: 'finished_on', sqlType: 'text', unset: null, set: (v) => `finished_on = coalesce(${v}, r.finished_on)` },
  { name: 'finished_at', sqlType: 'bigint', unset: null, set: (v) => `finished_at = coalesce(${v}, r.finished_at)` },
  {
    name: 'undo',
    sqlType: 'integer',
    unset: 0,
    set: (v) =>
      `attempt = greatest(0, r.attempt - (${v} & 1)), iterations = greatest(0, r.iterations - (${v} >> 1)),
       started_on = case when (${v} & 1) = 1 and r.attempt <= 1 then null else r.started_on end,
       node_id = case when (${v} & 1) = 1 and r.attempt <= 1 then null else r.node_id end`,
  },
  {
    name: 'retry',
    sqlType: 'integer',
    unset: 0,
    set: (v) => `retries = r.retries + ${v}, iteration_base = case when ${v} = 1 then r.iterations else r.iteration_base end`,
  },
];

/** 1 for the update of a run going back to pending for a retry (see IterationUpdate.retry) */
function retryBit(u: IterationUpdate): number {
  return u.retry === true && u.status === 'pending' ? 1 : 0;
}

/** bit 0: the attempt is undone too (a claim given back), bit 1: the iteration is undone */
function undoBits(u: IterationUpdate): number {
  return u.unclaim === true ? (u.status === 'pending' ? 3 : 2) : 0;
}

/**
 * The row a completion left, from the run's claim row and the update, for a run claimed by this
 * storage and still under that claim's lease. Under a lease only the executing node changes the
 * run (claim, then this update); other writers change only `abort_requested` (requestAbort),
 * `log_count` (appendLogs) and `progress` (saveProgress), which `vol` reads back with the update,
 * and `lease_expires_at` (renewLeases), which the update clears. So this is exactly the row that
 * `updateSql(false)` would have returned.
 */
function completedRun(
  claimRow: unknown[],
  u: IterationUpdate,
  t: { input: string | null; output: string | null; error: string | null },
  vol: unknown[],
): RunRecord {
  // the claim row with the update's columns set (as updateSql sets them), lease cleared, and
  // what others may have written read back: decoded as decodeRun would decode that row
  const row = claimRow.slice();
  row[3] = u.status;
  const dueAt = intMs(u.dueAt);
  if (dueAt !== null) row[20] = dueAt;
  if (t.input !== null) {
    row[31] = row[31] ?? row[4]; // the first change of input keeps the original
    row[4] = t.input;
  }
  if (retryBit(u) === 1) {
    row[28] = (row[28] as number) + 1;
    row[32] = row[8];
  }
  if (t.output !== null) row[5] = t.output;
  if (t.error !== null) row[6] = t.error;
  if (u.status === 'success') row[6] = null; // as updateStatement: a success clears the error
  row[7] = vol[3];
  if (u.finishedOn !== undefined && u.finishedOn !== null) row[18] = u.finishedOn;
  const undo = undoBits(u);
  row[9] = Math.max(0, (row[9] as number) - (undo & 1));
  row[8] = Math.max(0, (row[8] as number) - (undo >> 1));
  if ((undo & 1) === 1 && row[9] === 0) {
    // a first claim given back: the run is as before it (as updateSql sets it)
    row[17] = null;
    row[19] = null;
  }
  row[COL_LEASE_TOKEN] = null;
  row[23] = null;
  row[24] = vol[1];
  row[26] = vol[2];
  return decodeRun(row);
}

/** A run as the values of {@link INSERT_COLUMNS}, in that order (JSON fields as JSON text). */
type InsertRow = Array<string | number | boolean | null>;

interface InsertColumn {
  name: string;
  sqlType: 'text' | 'bigint' | 'integer' | 'boolean';
  /** sent as text, stored as json */
  json?: boolean;
  /** left out of the statement when every row of the batch has `fallback` (the column's default) */
  optional: boolean;
  fallback: string | number | boolean | null;
  array(values: InsertRow): string;
}

function col(name: string, sqlType: InsertColumn['sqlType'], optional: boolean, fallback: InsertColumn['fallback'] = null, json = false): InsertColumn {
  const array = sqlType === 'text' ? (v: InsertRow) => pgTextArray(v as Array<string | null>) : (v: InsertRow) => pgScalarArray(v as Array<number | boolean | null>);
  return { name, sqlType, json, optional, fallback, array };
}

/** Columns of an insert, in the order of {@link toInsertRow}; defaults as in the table. */
const INSERT_COLUMNS: readonly InsertColumn[] = [
  col('id', 'text', false),
  col('definition_id', 'text', false),
  col('name', 'text', false),
  col('status', 'text', false),
  col('input', 'text', true, null, true),
  col('output', 'text', true, null, true),
  col('error', 'text', true, null, true),
  col('progress', 'text', true, null, true),
  col('iterations', 'integer', true, 0),
  col('attempt', 'integer', true, 0),
  col('parent_id', 'text', true),
  col('key', 'text', true),
  col('context', 'text', true, null, true),
  col('after_id', 'text', true),
  col('run_at', 'text', true),
  col('scheduled_for', 'text', true),
  col('created_on', 'text', false),
  col('started_on', 'text', true),
  col('finished_on', 'text', true),
  col('finished_at', 'bigint', true),
  col('node_id', 'text', true),
  col('due_at', 'bigint', false),
  col('target_node_id', 'text', true),
  col('lease_token', 'text', true),
  col('lease_expires_at', 'bigint', true),
  col('abort_requested', 'boolean', true, false),
  col('recoveries', 'integer', true, 0),
  col('log_count', 'integer', true, 0),
  col('backfilled', 'boolean', true, false),
  col('retries', 'integer', true, 0),
  col('retry_of', 'text', true),
  col('retry_policy', 'text', true, null, true),
  col('original_input', 'text', true, null, true),
  col('iteration_base', 'integer', true, 0),
];
const INSERT_ID = 0;
const INSERT_DEFINITION = 1;
const INSERT_KEY = 11;

/** The row a run is inserted as; refuses what PostgreSQL cannot store as given. */
function toInsertRow(run: RunRecord): InsertRow {
  return [
    exactText(run.id, 'id'),
    exactText(run.definitionId, 'definitionId'),
    exactText(run.name, 'name'),
    run.status,
    jsonText(run.input),
    jsonText(run.output),
    jsonText(run.error),
    jsonText(run.progress),
    run.iterations ?? 0,
    run.attempt ?? 0,
    exactText(run.parentId, 'parentId'),
    exactText(run.key, 'key'),
    jsonText(run.context),
    exactText(run.after, 'after'),
    exactText(run.runAt, 'runAt'),
    exactText(run.scheduledFor, 'scheduledFor'),
    exactText(run.createdOn, 'createdOn'),
    exactText(run.startedOn, 'startedOn'),
    exactText(run.finishedOn, 'finishedOn'),
    isoToMs(run.finishedOn),
    exactText(run.nodeId, 'nodeId'),
    intMs(run.dueAt) ?? 0,
    exactText(run.targetNodeId, 'targetNodeId'),
    exactText(run.leaseToken, 'leaseToken'),
    intMs(run.leaseExpiresAt),
    run.abortRequested ?? false,
    run.recoveries ?? 0,
    run.logCount ?? 0,
    run.backfilled === true,
    run.retries ?? 0,
    exactText(run.retryOf, 'retryOf'),
    jsonText(run.retryPolicy),
    jsonText(run.originalInput),
    run.iterationBase ?? 0,
  ];
}

function insertRowSize(row: InsertRow): number {
  let size = 16;
  for (const v of row) size += typeof v === 'string' ? v.length + 3 : 8;
  return size;
}

/** Row indexes in (definition, key nulls last, id) order; cheap when already in order (the common case). */
function sortedForInsert(rows: InsertRow[]): number[] {
  const order = rows.map((_, i) => i);
  const cmp = (a: number, b: number): number => {
    const ra = rows[a];
    const rb = rows[b];
    const d = compareText(ra[INSERT_DEFINITION] as string, rb[INSERT_DEFINITION] as string);
    if (d !== 0) return d;
    const ka = ra[INSERT_KEY] as string | null;
    const kb = rb[INSERT_KEY] as string | null;
    if (ka !== kb) {
      if (ka === null) return 1;
      if (kb === null) return -1;
      const k = compareText(ka, kb);
      if (k !== 0) return k;
    }
    return compareText(ra[INSERT_ID] as string, rb[INSERT_ID] as string);
  };
  for (let i = 1; i < order.length; i++) {
    if (cmp(i - 1, i) > 0) return order.sort(cmp);
  }
  return order;
}

/** A PostgreSQL array literal of text values (NULL for null), for a `$n::text[]` parameter. */
function pgTextArray(values: Array<string | null>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    if (v === null || v === undefined) out += 'NULL';
    else if (v.indexOf('"') < 0 && v.indexOf('\\') < 0) out += '"' + v + '"';
    else out += '"' + v.replace(/[\\"]/g, '\\$&') + '"';
  }
  return out + '}';
}

/** A PostgreSQL array literal of numbers or booleans (NULL for null). */
function pgScalarArray(values: Array<number | boolean | null>): string {
  let out = '{';
  for (let i = 0; i < values.length; i++) {
    if (i > 0) out += ',';
    const v = values[i];
    out += v === null || v === undefined ? 'NULL' : typeof v === 'boolean' ? (v ? 't' : 'f') : String(v);
  }
  return out + '}';
}

/** Splits items into chunks of at most `maxItems` and about `maxBytes` of serialized size. */
function chunkBySize<T>(items: T[], sizeOf: (item: T) => number, maxItems: number, maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = sizeOf(item);
    if (current.length > 0 && (current.length >= maxItems || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/** One insert statement of {@link PostgresStorage.insertStatement}. */
interface InsertStatement {
  name: string;
  text: string;
  values: string[];
}

/** Where the statements of an insert go: the storage's pool, or a host's transaction. */
interface InsertLink {
  /** the insert without conflict handling (all or nothing); absent where a failed statement would cost more than a round trip */
  plain?(statement: InsertStatement): Promise<void>;
  /** the insert that skips conflicts; answers the ids inserted */
  skipConflicts(statement: InsertStatement): Promise<Set<string>>;
  /** the rows of the lookup of existing runs, whose text is made for the link's run columns */
  existing(text: (runColumns: string) => string, values: unknown[]): Promise<Array<RunRow & { req: number }>>;
}

const MAX_BATCH_ROWS = 2000;
/** insert statements of one storage at once (see insertRuns) */
const MAX_INSERT_LANES = 2;
/** claimed runs whose claim row is kept until their iteration is written (the last 50,000 to 100,000) */
const MAX_CLAIMED_ROWS = 100_000;
/** positions in a run row (RUN_COLUMN_NAMES order) */
const COL_ID = 0;
const COL_LEASE_TOKEN = 22;
/** a claim's row: the run's columns, then its rank within its definition */
const COL_CLAIM_RN = RUN_COLUMN_NAMES.length;
const COL_CLAIM_SLOT = RUN_COLUMN_NAMES.length + 1;

/**
 * Byte order of UTF-8 text, i.e. code point order: the "C" collation of the id columns (claims
 * return runs in it, and rows are locked in it). UTF-16 code unit order (`<`) differs only where
 * a surrogate (a code point above U+FFFF) meets a code unit from U+E000 up.
 */
function compareText(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys && (xs ? y >= 0xe000 : x >= 0xe000)) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

const MAX_BATCH_BYTES = 8 * 1024 * 1024;

function clampLimit(limit: number | undefined): number {
  if (limit === undefined || limit === null) return 50;
  if (!Number.isFinite(limit) || limit < 1) return 50;
  return Math.min(Math.floor(limit), 10_000);
}

/**
 * Runs, logs, per-run values, definition state and schedule ticks in a PostgreSQL schema of their
 * own (default `tasklane`). See `RunStorage` for the contract.
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

  private readonly s: string;
  private readonly poolSize: number;
  private readonly connectionTimeoutMs: number;
  private readonly queryTimeoutMs: number;
  private readonly reconnectWindowMs: number;
  private readonly applicationName: string;
  private pool: Pool | undefined;
  private initPromise: Promise<void> | undefined;
  private closed = false;
  private readonly errorListeners = new Set<(error: Error) => void>();
  private lastPoolError: Error | undefined;
  /** the database and runs table this storage uses (read at init): a host's transaction must be on them */
  private identity: PostgresIdentity | undefined;

  constructor(options: PostgresStorageOptions) {
    if (!options || typeof options.connectionString !== 'string' || options.connectionString.length === 0) {
      throw new InvalidArgumentError('postgresStorage: `connectionString` is required.');
    }
    this.connectionString = options.connectionString;
    this.schema = options.schema ?? 'tasklane';
    this.s = quoteSchema(this.schema);
    this.poolSize = options.poolSize ?? 10;
    if (!Number.isInteger(this.poolSize) || this.poolSize < 1) {
      throw new InvalidArgumentError('postgresStorage: `poolSize` must be a positive integer.');
    }
    // timeouts longer than a Node timer holds wait as long as one can (about 24.8 days)
    this.connectionTimeoutMs = Math.min(optionalDuration(options.connectionTimeoutMs, 'postgresStorage: `connectionTimeoutMs`', 10_000, 1), MAX_TIMER_MS);
    this.queryTimeoutMs = Math.min(optionalDuration(options.queryTimeoutMs, 'postgresStorage: `queryTimeoutMs`', 30_000, 1), MAX_TIMER_MS);
    this.reconnectWindowMs = optionalDuration(options.reconnectWindowMs, 'postgresStorage: `reconnectWindowMs`', 5000);
    this.applicationName = options.applicationName ?? 'tasklane-storage';
    pgDriver('postgresStorage()'); // an optional peer dependency: missing, it is said now
  }

  /**
   * Receives connection faults the storage recovered from (idle clients killed, reconnects).
   * Returns a function that removes the listener.
   */
  onError(listener: (error: Error) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** The most recent pool-level fault (for diagnostics). */
  get lastError(): Error | undefined {
    return this.lastPoolError;
  }

  /** Connects and migrates; after close() it opens again. */
  init(): Promise<void> {
    this.closed = false;
    this.initPromise ??= this.doInit().catch((err) => {
      this.initPromise = undefined;
      throw err;
    });
    return this.initPromise;
  }

  private async doInit(): Promise<void> {
    const pool = this.getPool();
    let client: PoolClient;
    try {
      client = await connect(pool);
    } catch (err) {
      throw storageFailure('PostgreSQL storage: connecting', err);
    }
    try {
      await migrate(client, this.schema);
      const res = await client.query<{ database: string; runs: string | null }>(
        'select current_database() as database, to_regclass($1)::oid::text as runs',
        [`${this.s}.runs`],
      );
      this.identity = { database: res.rows[0].database, runsTable: res.rows[0].runs };
      client.release();
    } catch (err) {
      client.release(true);
      if (err instanceof SchemaTooNewError || TasklaneError.is(err)) throw err;
      throw storageFailure(`PostgreSQL storage: migrating schema "${this.schema}"`, err);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.flushGets(); // pending reads finish before the pool goes
    this.closed = true;
    this.initPromise = undefined;
    this.claimedRows.clear();
    const pools = [this.pool, this.claimPool];
    this.pool = undefined;
    this.claimPool = undefined;
    await Promise.all(pools.map((pool) => (pool ? endPool(pool) : undefined)));
  }

  private getPool(): Pool {
    if (this.closed) throw new StorageError('PostgreSQL storage is closed.');
    this.pool ??= createManagedPool({
      connectionString: this.connectionString,
      max: this.poolSize,
      applicationName: this.applicationName,
      connectionTimeoutMillis: this.connectionTimeoutMs,
      onError: (err) => this.reportError(err),
    });
    return this.pool;
  }

  /**
   * Connections for claims only (at most two claims overlap per node), whose sessions use generic
   * plans: the claim statement's plan does not depend on its parameters, and planning it anew for
   * every claim (as PostgreSQL's plan cache chooses for it) cost about 1 ms, a fifth of a claim.
   * A generic plan is kept until the table's statistics change, and one made while the table was
   * small would read it sequentially (the `after` check would then scan the whole table per
   * candidate): these sessions do not plan sequential scans, every access of the claim has an index.
   */
  private claimPool: Pool | undefined;

  private getClaimPool(): Pool {
    if (this.closed) throw new StorageError('PostgreSQL storage is closed.');
    this.claimPool ??= createManagedPool({
      connectionString: this.connectionString,
      max: Math.min(2, this.poolSize),
      applicationName: this.applicationName,
      connectionTimeoutMillis: this.connectionTimeoutMs,
      onError: (err) => this.reportError(err),
      sessionOptions: '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off',
    });
    return this.claimPool;
  }

  private reportError(err: Error): void {
    this.lastPoolError = err;
    for (const listener of this.errorListeners) {
      try {
        listener(storageFailure('PostgreSQL storage: a pooled connection', err));
      } catch {
        // a listener's fault is not ours to raise
      }
    }
  }

  /**
   * Runs `fn` on a pooled client. Connection faults and deadlock victims are retried according to
   * `kind`; everything else becomes a StorageError.
   */
  private async exec<T>(kind: OpKind, what: string, fn: (client: PoolClient) => Promise<T>, which: 'main' | 'claims' = 'main'): Promise<T> {
    const started = Date.now();
    let connectionRetries = 0;
    let conflictRetries = 0;
    let connectDelay = 50;
    let reported = false;
    for (;;) {
      const pool = which === 'claims' ? this.getClaimPool() : this.getPool();
      let client: PoolClient | undefined;
      try {
        client = await connect(pool);
        const c = client;
        const result = await withTimeout(fn(c), this.queryTimeoutMs, () => destroySocket(c));
        client.release();
        return result;
      } catch (err) {
        // A client that saw an error may sit in an aborted transaction or on a dead socket: drop it.
        if (client) client.release(true);
        if (TasklaneError.is(err)) throw err;
        const original = err instanceof ConnectError || err instanceof CommitFailedError ? err.original : err;
        const report = () => {
          if (reported) return;
          reported = true;
          this.reportError(original instanceof Error ? original : new Error(String(original)));
        };
        // the server rolled the statement back to break a deadlock: run it again
        if (isDeadlockOrSerialization(original) && !(err instanceof CommitFailedError) && conflictRetries < 8) {
          conflictRetries++;
          await sleep(5 + Math.random() * 20 * conflictRetries);
          continue;
        }
        // no connection: nothing was sent, any operation may wait for the server to come back
        if (err instanceof ConnectError && !this.closed && Date.now() - started + connectDelay <= this.reconnectWindowMs) {
          report();
          await sleep(connectDelay);
          connectDelay = Math.min(connectDelay * 2, 1000);
          continue;
        }
        // the link broke under a statement: it may have been applied; only reads and idempotent
        // writes are run again (once, on a fresh connection)
        if (
          kind !== 'write' &&
          connectionRetries < 1 &&
          !this.closed &&
          (isConnectionError(original) || err instanceof CommitFailedError)
        ) {
          connectionRetries++;
          report();
          await sleep(10);
          continue;
        }
        throw storageFailure(`PostgreSQL storage: ${what}`, original);
      }
    }
  }

  private async transaction<T>(client: PoolClient, fn: () => Promise<T>): Promise<T> {
    await client.query('begin');
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
    try {
      await client.query('commit');
    } catch (err) {
      throw new CommitFailedError(err);
    }
    return result;
  }

  // ---------------------------------------------------------------------------------------------
  // transactional triggers

  /**
   * A transactional trigger through the host's own `pg` client after BEGIN: the insert of
   * `insertRuns` (same record checks, same key answer, in (definition, key, id) order) on the
   * host's connection, inside a savepoint (see PostgresTransactionSession). Refused at once with
   * TransactionRefusedError: a better-sqlite3 Database, anything without `query()`, a `pg.Pool`
   * (each of its queries may go to another connection); in `begin()`: a client not in a
   * transaction or in an aborted one, a client on another database or without this schema.
   */
  openTransaction(tx: HostTransaction): PostgresTransactionSession {
    const what = 'trigger({ transaction }) on postgresStorage';
    const handle = tx as Partial<Record<'query' | 'prepare' | 'inTransaction' | 'totalCount' | 'idleCount', unknown>>;
    if (typeof handle.prepare === 'function' && typeof handle.inTransaction === 'boolean') {
      throw new TransactionRefusedError(`${what}: got a better-sqlite3 Database; the transaction must be a pg client (Client or PoolClient) after BEGIN.`);
    }
    if (typeof handle.query !== 'function') {
      throw new TransactionRefusedError(`${what}: the transaction must be a pg client (Client or PoolClient) after BEGIN.`);
    }
    if (typeof handle.totalCount === 'number' && typeof handle.idleCount === 'number') {
      throw new TransactionRefusedError(`${what}: got a pg Pool, whose queries may each go to another connection; pass the client of pool.connect() on which you issued BEGIN.`);
    }
    return new PostgresTransactionSession(tx as PostgresTransaction, this.transactionAccess);
  }

  private readonly transactionAccess: PostgresRunAccess = {
    runsTableName: () => `${this.s}.runs`,
    identity: async () => {
      if (!this.identity) await this.init();
      return this.identity!;
    },
    findUnfinishedByKey: async (tx, definitionId, key) => {
      if (!storable(definitionId) || !storable(key)) return null;
      const rows = await this.throughTransaction(tx, 'findUnfinishedByKey', `select ${portableCols('r')} from ${this.s}.runs r
         where r.definition_id = $1 and r.key = $2 and r.status in ${UNFINISHED} limit 1`, [definitionId, key]);
      return rows[0] ? toRecord(rows[0]) : null;
    },
    getRuns: async (tx, ids) => {
      const wanted = [...new Set(ids.filter(storable))];
      if (wanted.length === 0) return [];
      const rows = await this.throughTransaction(tx, 'getRuns', `select ${portableCols('r')} from ${this.s}.runs r where r.id = any($1::text[])`, [pgTextArray(wanted)]);
      return rows.map(toRecord);
    },
    insertRuns: (tx, runs) => {
      if (runs.length === 0) return Promise.resolve([]);
      let rows: InsertRow[];
      try {
        rows = runs.map(toInsertRow); // as insertRuns: nothing is sent when a field is refused
      } catch (err) {
        return Promise.reject(err);
      }
      return this.insertNow(runs, rows, this.transactionLink(tx));
    },
    transactionStatus: (xid) =>
      this.exec('read', 'transactionStatus', async (client) => {
        const res = await client.query<{ status: string | null }>('select pg_xact_status($1::xid8) as status', [xid]);
        return res.rows[0]?.status ?? null;
      }),
  };

  private async throughTransaction(tx: PostgresTransaction, what: string, text: string, values: unknown[]): Promise<RunRow[]> {
    try {
      return (await tx.query(text, values)).rows as RunRow[];
    } catch (err) {
      throw storageFailure(`PostgreSQL storage: ${what} through the host's transaction`, err);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // runs

  /** insert calls waiting for a lane (see insertRuns) */
  private insertQueue: Array<{ runs: RunRecord[]; rows: InsertRow[]; resolve: (r: Array<{ run: RunRecord; created: boolean }>) => void; reject: (e: unknown) => void }> = [];
  private insertsInFlight = 0;

  insertRuns(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>> {
    if (runs.length === 0) return Promise.resolve([]);
    let rows: InsertRow[];
    try {
      rows = runs.map(toInsertRow); // validates every field first: nothing is sent when one is refused
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.insertQueue.push({ runs, rows, resolve, reject });
      this.pumpInserts();
    });
  }

  /**
   * At most MAX_INSERT_LANES insert statements at once; calls made meanwhile are sent together
   * (up to MAX_BATCH_ROWS runs) when a lane frees up: a burst of triggers becomes a few large
   * statements instead of many concurrent ones contending for the same index pages.
   */
  private pumpInserts(): void {
    while (this.insertsInFlight < MAX_INSERT_LANES && this.insertQueue.length > 0) {
      const group = [this.insertQueue.shift()!];
      let n = group[0].runs.length;
      while (this.insertQueue.length > 0 && n + this.insertQueue[0].runs.length <= MAX_BATCH_ROWS) {
        const next = this.insertQueue.shift()!;
        group.push(next);
        n += next.runs.length;
      }
      this.insertsInFlight++;
      const runs = group.length === 1 ? group[0].runs : group.flatMap((g) => g.runs);
      const rows = group.length === 1 ? group[0].rows : group.flatMap((g) => g.rows);
      this.insertNow(runs, rows, this.poolLink).then(
        (results) => {
          let at = 0;
          for (const g of group) {
            g.resolve(results.slice(at, at + g.runs.length));
            at += g.runs.length;
          }
        },
        (err: unknown) => {
          for (const g of group) g.reject(err);
        },
      ).finally(() => {
        this.insertsInFlight--;
        this.pumpInserts();
      });
    }
  }

  /** inserts on the storage's own connections, retried as their kind allows (see exec) */
  private readonly poolLink: InsertLink = {
    plain: async (statement) => {
      await this.exec('write', 'insertRuns', (client) => client.query({ name: statement.name, text: statement.text, values: statement.values }));
    },
    skipConflicts: (statement) =>
      this.exec('idempotent', 'insertRuns', async (client) => {
        const res = await client.query<[string]>({ name: statement.name, text: statement.text, values: statement.values, rowMode: 'array' });
        return new Set(res.rows.map((r) => r[0]));
      }),
    existing: (text, values) => this.exec('read', 'insertRuns', async (client) => (await client.query<RunRow & { req: number }>(text(cols('r')), values)).rows),
  };

  /**
   * Inserts on a host's transaction: no retry (the host's transaction decides), never the plain
   * insert (a duplicate id would abort the host's transaction), statements unnamed (any client
   * with `query(text, values)` will do), run columns read portably.
   */
  private transactionLink(tx: PostgresTransaction): InsertLink {
    const run = async <R>(text: string, values: unknown[]): Promise<R[]> => {
      try {
        return (await tx.query(text, values)).rows as R[];
      } catch (err) {
        if (TasklaneError.is(err)) throw err;
        throw storageFailure("PostgreSQL storage: insertRuns through the host's transaction", err);
      }
    };
    return {
      skipConflicts: async (statement) => new Set((await run<{ id: string }>(statement.text, statement.values)).map((r) => r.id)),
      existing: (text, values) => run<RunRow & { req: number }>(text(portableCols('r')), values),
    };
  }

  private async insertNow(runs: RunRecord[], rows: InsertRow[], link: InsertLink): Promise<Array<{ run: RunRecord; created: boolean }>> {
    const results = new Array<{ run: RunRecord; created: boolean } | undefined>(runs.length);
    // (definition, key, id) order: rows are inserted, and keys taken, in this order by every inserter,
    // so concurrent batches racing for the same keys cannot deadlock
    const indexes = sortedForInsert(rows);
    const chunks = chunkBySize(indexes, (i) => insertRowSize(rows[i]), MAX_BATCH_ROWS, MAX_BATCH_BYTES);

    for (const chunk of chunks) {
      let todo = chunk;
      for (let round = 0; todo.length > 0; round++) {
        if (round >= 5) {
          throw new StorageError('PostgreSQL storage: insertRuns could not settle idempotency-key races after 5 rounds.');
        }
        const statement = this.insertStatement(todo.map((i) => rows[i]));
        let inserted: Set<string> | undefined;
        if (statement.plain && round === 0 && link.plain) {
          // no idempotency key in the batch: a plain insert, all or nothing (no speculative
          // insertion, nothing returned); a duplicate id (a retried batch) falls back to the
          // insert that skips conflicts
          try {
            await link.plain({ name: statement.plain.name, text: statement.plain.text, values: statement.values });
            inserted = new Set(todo.map((i) => runs[i].id));
          } catch (err) {
            // a duplicate id, or a link that broke under the statement (it may have been applied):
            // the insert that skips conflicts settles which runs exist
            if (!(err instanceof StorageError && (codeOf(err.cause) === '23505' || isConnectionError(err.cause)))) throw err;
          }
        }
        inserted ??= await link.skipConflicts(statement);
        const missing: number[] = [];
        for (const i of todo) {
          // an id given twice in one batch was inserted once: the first is created, the other exists
          if (inserted.delete(runs[i].id)) results[i] = { run: { ...runs[i] }, created: true };
          else missing.push(i);
        }
        if (missing.length === 0) break;
        // Not inserted: a run with that id exists already, or an unfinished run holds the key.
        const existingRows = await link.existing(
          (runColumns) =>
            `select distinct on (q.req) q.req, ${runColumns}
             from unnest($1::int[], $2::text[], $3::text[], $4::text[]) as q(req, id, definition_id, key)
             join ${this.s}.runs r
               on r.id = q.id
               or (q.key is not null and r.definition_id = q.definition_id and r.key = q.key and r.status in ${UNFINISHED})
             order by q.req, (r.id = q.id) desc`,
          [
            missing,
            missing.map((i) => runs[i].id),
            missing.map((i) => runs[i].definitionId),
            missing.map((i) => runs[i].key ?? null),
          ],
        );
        const existing = new Map(existingRows.map((r) => [r.req, toRecord(r)]));
        const again: number[] = [];
        for (const i of missing) {
          const found = existing.get(i);
          if (found) results[i] = { run: found, created: false };
          else again.push(i); // the holder finished in between: its key is free, insert again
        }
        todo = again;
      }
    }
    return results as Array<{ run: RunRecord; created: boolean }>;
  }

  private readonly insertSqlCache = new Map<string, string>();

  /**
   * The insert of a batch as one statement over parallel arrays (one per column). Columns that
   * every row of the batch leaves at their default (NULL, 0, false) are left out, and a column
   * every row sets to the same value (definition, name, status, often the creation time and due
   * time of a burst) is sent once as a scalar: a batch of fresh runs parses one or two arrays.
   * The statement text depends only on which columns are present and which are scalars, so each
   * variant is prepared once per connection.
   */
  private insertStatement(rows: InsertRow[]): { name: string; text: string; values: string[]; plain?: { name: string; text: string } } {
    // per column: present (some row sets it), one (every row sets it to the same value: sent
    // once); flags rather than bit masks, as there are more than 31 columns
    const n = INSERT_COLUMNS.length;
    const present = new Uint8Array(n);
    const one = new Uint8Array(n).fill(1);
    one[INSERT_ID] = 0; // the id is always an array
    for (let c = 0; c < n; c++) if (!INSERT_COLUMNS[c].optional) present[c] = 1;
    const first = rows[0];
    for (const row of rows) {
      for (let c = 0; c < n; c++) {
        const v = row[c];
        if (present[c] === 0 && v !== null && v !== INSERT_COLUMNS[c].fallback) present[c] = 1;
        if (one[c] === 1 && v !== first[c]) one[c] = 0;
      }
    }
    const values: string[] = [];
    // the statement's variant: per column 0 (left out), 1 (an array) or 2 (one value), three columns a character
    let signature = '';
    for (let c = 0; c < n; c += 3) {
      let digit = 0;
      for (let k = 2; k >= 0; k--) digit = digit * 3 + (c + k < n ? (present[c + k] === 0 ? 0 : one[c + k] === 1 ? 2 : 1) : 0);
      signature += digit.toString(36);
    }
    for (let c = 0; c < n; c++) {
      if (present[c] === 0) continue;
      if (one[c] === 1) values.push(first[c] === null ? (null as unknown as string) : String(first[c]));
      else values.push(INSERT_COLUMNS[c].array(rows.map((row) => row[c])));
    }
    let text = this.insertSqlCache.get(signature);
    let plainText = this.insertSqlCache.get(`plain_${signature}`);
    if (text === undefined || plainText === undefined) {
      const names: string[] = [];
      const exprs: string[] = [];
      const arrayParams: string[] = [];
      const arrayNames: string[] = [];
      let param = 0;
      for (let c = 0; c < n; c++) {
        if (present[c] === 0) continue;
        const col = INSERT_COLUMNS[c];
        param++;
        names.push(col.name);
        const value = one[c] === 1 ? `$${param}::${col.sqlType}` : `x.${col.name}`;
        if (one[c] === 0) {
          arrayParams.push(`$${param}::${col.sqlType}[]`);
          arrayNames.push(col.name);
        }
        exprs.push(col.json ? `${value}::json` : value);
      }
      const columnList = names.join(', ');
      const selectList = exprs.join(', ');
      const arrays = arrayParams.join(', ');
      const arrayColumns = arrayNames.join(', ');
      text = `insert into ${this.s}.runs (${columnList})
         select ${selectList} from unnest(${arrays}) as x(${arrayColumns})
         on conflict do nothing
         returning id`;
      plainText = `insert into ${this.s}.runs (${columnList})
         select ${selectList} from unnest(${arrays}) as x(${arrayColumns})`;
      this.insertSqlCache.set(signature, text);
      this.insertSqlCache.set(`plain_${signature}`, plainText);
    }
    const keyed = present[INSERT_KEY] === 1;
    return {
      name: `tasklane_insert_${signature}`,
      text,
      values,
      plain: keyed ? undefined : { name: `tasklane_insert_plain_${signature}`, text: plainText },
    };
  }

  /**
   * Single-run reads issued in the same event-loop tick are answered by one query (the engine
   * reads runs one by one from many places at once: waits, announcements, executions).
   */
  getRun(id: string): Promise<RunRecord | null> {
    if (!storable(id)) return Promise.resolve(null);
    return new Promise<RunRecord | null>((resolve, reject) => {
      this.getQueue.push({ id, resolve, reject });
      if (this.getQueue.length >= MAX_BATCH_ROWS) this.flushGets();
      else this.getFlush ??= setImmediate(() => this.flushGets());
    });
  }

  private getQueue: Array<{ id: string; resolve: (run: RunRecord | null) => void; reject: (err: unknown) => void }> = [];
  private getFlush: NodeJS.Immediate | undefined;

  private flushGets(): void {
    if (this.getFlush) clearImmediate(this.getFlush);
    this.getFlush = undefined;
    const batch = this.getQueue;
    this.getQueue = [];
    if (batch.length === 0) return;
    const ids = [...new Set(batch.map((b) => b.id))];
    this.exec('read', 'getRun', async (client) => {
      const res = await client.query<unknown[]>(
        ids.length === 1
          ? { name: 'tasklane_get1', text: `select ${cols()} from ${this.s}.runs where id = $1`, values: [ids[0]], rowMode: 'array' }
          : { name: 'tasklane_getn', text: `select ${cols()} from ${this.s}.runs where id = any($1::text[])`, values: [pgTextArray(ids)], rowMode: 'array' },
      );
      return new Map(res.rows.map((r) => [r[0] as string, r]));
    }).then(
      (rows) => {
        // each caller gets its own copy
        for (const b of batch) {
          const row = rows.get(b.id);
          b.resolve(row ? decodeRun(row) : null);
        }
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err);
      },
    );
  }

  async getRuns(ids: string[]): Promise<RunRecord[]> {
    ids = ids.filter(storable);
    if (ids.length === 0) return [];
    const byId = await this.exec('read', 'getRuns', async (client) => {
      const res = await client.query<unknown[]>({
        name: 'tasklane_getn',
        text: `select ${cols()} from ${this.s}.runs where id = any($1::text[])`,
        values: [pgTextArray(ids)],
        rowMode: 'array',
      });
      return new Map(res.rows.map((r) => [r[0] as string, decodeRun(r)]));
    });
    const out: RunRecord[] = [];
    const seen = new Set<string>();
    for (const id of ids) {
      const run = byId.get(id);
      if (run && !seen.has(id)) {
        seen.add(id);
        out.push(run);
      }
    }
    return out;
  }

  async getEndedRuns(asked: string[]): Promise<EndedRuns> {
    const ids = [...new Set(asked.filter(storable))];
    if (ids.length === 0) return { ended: [], missing: [...new Set(asked)] };
    // statuses first, by primary key only (a status predicate beside `id = any(...)` let a generic
    // plan walk the finished-runs index: 3x the server's CPU per run, measured); whole rows then
    // for the ended ones alone, most waited runs running still
    const statuses = await this.exec('read', 'getEndedRuns', async (client) => {
      const res = await client.query<unknown[]>({
        name: 'tasklane_getstatus',
        text: `select id, status from ${this.s}.runs where id = any($1::text[])`,
        values: [pgTextArray(ids)],
        rowMode: 'array',
      });
      return res.rows;
    });
    const stored = new Set<string>();
    const endedIds: string[] = [];
    for (const [id, status] of statuses as Array<[string, RunStatus]>) {
      stored.add(id);
      if (isFinished(status)) endedIds.push(id);
    }
    // a run read as ended stays ended; one deleted since (retention) is simply left out
    const ended = endedIds.length > 0 ? await this.getRuns(endedIds) : [];
    return { ended, missing: [...new Set(asked)].filter((id) => !stored.has(id)) };
  }

  async listRuns(query: StorageListRunsQuery): Promise<Page<RunRecord>> {
    const limit = clampLimit(query.limit);
    // text PostgreSQL cannot hold matches no stored run (and cannot be sent): an empty page
    if ((query.definition !== undefined && !storable(query.definition)) || (query.parentId !== undefined && !storable(query.parentId))) return { items: [] };
    if (query.cursor !== undefined && !storable(query.cursor)) throw new InvalidArgumentError('Invalid run cursor: it was not returned by listRuns.');
    const where: string[] = [];
    const params: unknown[] = [];
    const param = (value: unknown): string => {
      params.push(value);
      return `$${params.length}`;
    };
    const statuses = query.status === undefined ? undefined : Array.isArray(query.status) ? query.status : [query.status];
    if (query.parentId !== undefined) where.push(`parent_id = ${param(query.parentId)}`);
    if (query.scheduled === true) where.push('scheduled_for is not null');
    if (query.scheduled === false) where.push('scheduled_for is null');
    if (query.cursor !== undefined && query.cursor !== '') where.push(`id < ${param(query.cursor)}`);
    let sql: string;
    if (query.definition !== undefined) {
      // one branch per status group, each served in id order by its partial index (there is no
      // index on all of a definition's runs: see migration 2), merged newest first
      where.unshift(`definition_id = ${param(query.definition)}`);
      const wanted = (st: RunStatus) => statuses === undefined || statuses.includes(st);
      const branches: string[] = [];
      for (const group of STATUS_GROUPS) {
        const members = group.statuses.filter(wanted);
        if (members.length === 0) continue;
        const status = members.length === group.statuses.length ? group.predicate : members.map((m) => STATUS_PREDICATE[m]).join(' or ');
        // the running index is keyed by lease expiry, not id: `offset 0` keeps the planner from
        // walking the primary key backwards in search of the definition's running runs
        branches.push(
          group.fence
            ? `(select * from (select ${cols()} from ${this.s}.runs where ${where.join(' and ')} and (${status}) offset 0) as f order by id desc limit ${param(limit + 1)})`
            : `(select ${cols()} from ${this.s}.runs where ${where.join(' and ')} and (${status}) order by id desc limit ${param(limit + 1)})`,
        );
      }
      if (branches.length === 0) return { items: [] };
      sql = `select * from (${branches.join(' union all ')}) as u order by id desc limit ${param(limit + 1)}`;
    } else {
      if (statuses !== undefined) where.push(`status = any(${param(statuses)}::text[])`);
      sql = `select ${cols()} from ${this.s}.runs
      ${where.length ? `where ${where.join(' and ')}` : ''}
      order by id desc limit ${param(limit + 1)}`;
    }
    const rows = await this.exec('read', 'listRuns', async (client) => (await client.query<RunRow>(sql, params)).rows);
    const items = rows.slice(0, limit).map(toRecord);
    return rows.length > limit ? { items, cursor: items[items.length - 1].id } : { items };
  }

  async findUnfinishedByKey(definitionId: string, key: string): Promise<RunRecord | null> {
    if (!storable(definitionId) || !storable(key)) return null;
    return this.exec('read', 'findUnfinishedByKey', async (client) => {
      const res = await client.query<RunRow>(
        `select ${cols()} from ${this.s}.runs
         where definition_id = $1 and key = $2 and status in ${UNFINISHED} limit 1`,
        [definitionId, key],
      );
      return res.rows[0] ? toRecord(res.rows[0]) : null;
    });
  }

  async countPending(): Promise<Map<string, number>> {
    return this.exec('read', 'countPending', async (client) => {
      const res = await client.query<{ definition_id: string; n: number }>(
        `select definition_id, count(*)::int as n from ${this.s}.runs where status = 'pending' group by definition_id`,
      );
      return new Map(res.rows.map((r) => [r.definition_id, r.n]));
    });
  }

  // ---------------------------------------------------------------------------------------------
  // claims and iterations

  async claimRuns(request: ClaimRequest): Promise<RunRecord[]> {
    const limit = Math.floor(request.limit);
    // as every storage: a slot without room is skipped, and a definition counts once (its first slot)
    const seen = new Set<string>();
    const slots = request.slots.filter((s) => {
      if (seen.has(s.definitionId) || !(s.max >= 1)) return false;
      seen.add(s.definitionId);
      return true;
    });
    if (!(limit > 0) || slots.length === 0) return [];
    const definitionIds = slots.map((s) => s.definitionId);
    const maxes = slots.map((s) => Math.min(Math.floor(s.max), limit));
    const concurrency = slots.map((s) =>
      s.concurrency === undefined || s.concurrency === null ? null : Math.max(0, Math.floor(s.concurrency)),
    );
    const limited = slots.filter((s) => s.concurrency !== undefined && s.concurrency !== null).map((s) => s.definitionId);
    const now = intMs(request.now) ?? Date.now();
    const params = [
      request.nodeId,
      now,
      now + Math.max(0, Math.round(request.leaseMs)),
      limit,
      definitionIds,
      maxes,
      concurrency,
      new Date(now).toISOString(),
    ];
    const sql = this.claimSql();
    const rows = await this.exec('idempotent', 'claimRuns', async (client) => {
      const run = async () => (await client.query<unknown[]>({ name: 'tasklane_claim', text: sql, values: params, rowMode: 'array' })).rows;
      if (limited.length === 0) return run();
      return this.transaction(client, async () => {
        // Claims of a concurrency-limited definition are serialised cluster-wide: the running count
        // read by the claim statement (a fresh snapshot, taken after the lock) is then exact.
        await client.query(
          `select pg_advisory_xact_lock(hashtextextended($1 || k, 0))
           from (select k from unnest($2::text[]) as k order by k) as keys`,
          [`tasklane:claim:${this.schema}:`, limited],
        );
        return run();
      });
    }, 'claims');
    // in claim order (see RunStorage): round-robin across definitions in slot order, each
    // definition's runs in its own order (sorted here: the rows are wide)
    rows.sort((a, b) => (a[COL_CLAIM_RN] as number) - (b[COL_CLAIM_RN] as number) || (a[COL_CLAIM_SLOT] as number) - (b[COL_CLAIM_SLOT] as number));
    const runs = new Array<RunRecord>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      runs[i] = decodeRun(rows[i]);
      this.rememberClaim(rows[i]);
    }
    return runs;
  }

  /**
   * The rows of runs this storage claimed, as the claim returned them, by run id, until the
   * claim's iteration is written: a completion then reads back only the columns that can change
   * under a lease (see updateIterations). Bounded; an entry is trusted only for its lease token.
   */
  private readonly claimedRows = new RecentMap<unknown[]>(MAX_CLAIMED_ROWS);

  private rememberClaim(row: unknown[]): void {
    this.claimedRows.set(row[COL_ID] as string, row);
  }

  private claimSqlText: string | undefined;

  private claimSql(): string {
    const s = this.s;
    // $1 node, $2 now, $3 lease expiry, $4 limit, $5 definition ids, $6 max per definition,
    // $7 concurrency per definition (null = unlimited), $8 now as ISO
    this.claimSqlText ??= `
      with slots as (
        select q.definition_id, q.max_n, q.conc, q.slot, coalesce(d.disabled, false) as disabled, d.restart_cutoff as cutoff
        from unnest($5::text[], $6::int[], $7::int[]) with ordinality as q(definition_id, max_n, conc, slot)
        left join ${s}.definitions d on d.definition_id = q.definition_id
      ),
      running as (
        select slots.definition_id,
               (select count(*) from ${s}.runs r where r.status = 'running' and r.definition_id = slots.definition_id)::int as n
        from slots
        where slots.conc is not null
      ),
      expired as (
        select c.id, c.definition_id, true as recovered, 0 as kind, 0::bigint as ord
        from slots
        cross join lateral (
          -- leases that ran out (one without an expiry counts as expired: its LEASE_KEY is 0)
          select r.id, r.definition_id
          from ${s}.runs r
          where r.status = 'running'
            and r.definition_id = slots.definition_id
            and ${LEASE_KEY} > -9223372036854775807 - 1
            and ${LEASE_KEY} < $2
            and r.lease_token is not null
          order by r.id
          limit slots.max_n
          for update skip locked
        ) c
      ),
      parked as (
        select c.id, c.definition_id, false as recovered, 1 as kind, c.due_at as ord
        from slots
        left join (select definition_id, count(*)::int as n from expired group by definition_id) ec on ec.definition_id = slots.definition_id
        cross join lateral (
          select r.id, r.definition_id, r.due_at
          from ${s}.runs r
          where r.status = 'running'
            and r.definition_id = slots.definition_id
            and ${LEASE_KEY} = -9223372036854775807 - 1
            and r.lease_token is null
            and r.due_at <= $2
            and (r.target_node_id is null or r.target_node_id = $1)
          order by r.due_at, r.id
          limit greatest(0, slots.max_n - coalesce(ec.n, 0))
          for update skip locked
        ) c
      ),
      resumed as (
        select * from expired
        union all
        select * from parked
      ),
      caps as materialized (
        select slots.definition_id,
               case when slots.disabled then 0
                    else greatest(0, least(
                      slots.max_n - coalesce(rc.n, 0),
                      case when slots.conc is null then slots.max_n else slots.conc - coalesce(running.n, 0) end))
               end as room
        from slots
        left join (select definition_id, count(*)::int as n from resumed group by definition_id) rc on rc.definition_id = slots.definition_id
        left join running on running.definition_id = slots.definition_id
      ),
      fresh as (
        select c.id, c.definition_id, false as recovered, 2 as kind, 0::bigint as ord
        from caps
        cross join lateral (
          select r.id, r.definition_id
          from ${s}.runs r
          where r.status = 'pending'
            and r.definition_id = caps.definition_id
            and r.due_at <= $2
            and (r.target_node_id is null or r.target_node_id = $1)
            and (r.after_id is null or not exists (
              select 1 from ${s}.runs a where a.id = r.after_id and a.status in ${UNFINISHED}))
          order by r.id
          limit caps.room
          for update skip locked
        ) c
        where caps.room > 0
      ),
      picked as (
        select u.id, u.recovered, u.definition_id,
               row_number() over (partition by u.definition_id order by u.kind, u.ord, u.id) as rn
        from (select * from resumed union all select * from fresh) u
      ),
      chosen as (
        select p.id, p.recovered, p.rn, p.definition_id, sl.slot from picked p
        join slots sl on sl.definition_id = p.definition_id
        order by p.rn, sl.slot limit $4
      ),
      claimed as (
        update ${s}.runs r set
          status = 'running',
          lease_token = replace(gen_random_uuid()::text, '-', ''),
          lease_expires_at = $3,
          node_id = $1,
          iterations = r.iterations + 1,
          started_on = coalesce(r.started_on, $8),
          attempt = case when r.status = 'pending' or chosen.recovered then r.attempt + 1 else r.attempt end,
          recoveries = case when chosen.recovered then r.recoveries + 1 else r.recoveries end,
          -- created before a restart of its definition (triggered while the restart ran): ends aborted
          abort_requested = r.abort_requested or coalesce(r.id < sl.cutoff, false)
        from chosen
        join slots sl on sl.definition_id = chosen.definition_id
        where r.id = chosen.id
        returning ${cols('r')}, chosen.rn as claim_rn, chosen.slot as claim_slot
      )
      select * from claimed`;
    return this.claimSqlText;
  }

  async updateIterations(updates: IterationUpdate[]): Promise<UpdateResult[]> {
    if (updates.length === 0) return [];
    const results = new Array<UpdateResult>(updates.length);
    // id order: rows are locked in the order unnest() yields them (see updateSql), the order every
    // multi-row writer here uses, so two batches touching the same runs cannot deadlock
    const order = updates.map((_, i) => i).sort((a, b) => compareText(updates[a].id, updates[b].id));
    const texts = updates.map((u) => ({ input: jsonText(u.input), output: jsonText(u.output), error: jsonText(u.error), progress: jsonText(u.progress) }));
    const sizes = updates.map((u, i) => {
      const t = texts[i];
      return 64 + u.id.length + (t.input?.length ?? 0) + (t.output?.length ?? 0) + (t.error?.length ?? 0) + (t.progress?.length ?? 0);
    });
    // runs claimed here under the same lease: only what can change under a lease is read back
    const claimRows = updates.map((u) => {
      const row = this.claimedRows.get(u.id);
      return row !== undefined && row[COL_LEASE_TOKEN] === u.leaseToken ? row : undefined;
    });
    for (const chunk of chunkBySize(order, (i) => sizes[i], MAX_BATCH_ROWS, MAX_BATCH_BYTES)) {
      const known = chunk.filter((i) => claimRows[i] !== undefined);
      const unknown = known.length === chunk.length ? [] : chunk.filter((i) => claimRows[i] === undefined);
      for (const part of [known, unknown]) {
        if (part.length === 0) continue;
        const slim = part === known;
        const n = part.length;
        const req = new Array<number>(n);
        const ids = new Array<string>(n);
        const tokens = new Array<string>(n);
        const statuses = new Array<string>(n);
        const dueAts = new Array<number | null>(n);
        const inputs = new Array<string | null>(n);
        const outputs = new Array<string | null>(n);
        const errors = new Array<string | null>(n);
        const progresses = new Array<string | null>(n);
        const finishedOns = new Array<string | null>(n);
        const finishedAts = new Array<number | null>(n);
        const undos = new Array<number>(n);
        const retries = new Array<number>(n);
        for (let k = 0; k < n; k++) {
          const i = part[k];
          const u = updates[i];
          const t = texts[i];
          req[k] = i;
          ids[k] = u.id;
          tokens[k] = u.leaseToken;
          statuses[k] = u.status;
          dueAts[k] = intMs(u.dueAt);
          inputs[k] = t.input;
          outputs[k] = t.output;
          errors[k] = t.error;
          progresses[k] = t.progress;
          finishedOns[k] = u.finishedOn ?? null;
          finishedAts[k] = isoToMs(u.finishedOn);
          undos[k] = undoBits(u);
          retries[k] = retryBit(u);
        }
        const { name, text, values } = this.updateStatement(slim, req, ids, tokens, [
          statuses,
          dueAts,
          inputs,
          outputs,
          errors,
          progresses,
          finishedOns,
          finishedAts,
          undos,
          retries,
        ]);
        let ambiguous = false;
        const rows = await this.exec('idempotent', 'updateIterations', async (client) => {
          try {
            return (await client.query<unknown[]>({ name, text, values, rowMode: 'array' })).rows;
          } catch (err) {
            // If this attempt failed on a broken link, it may have been applied: the retry verifies.
            if (isConnectionError(err)) ambiguous = true;
            throw err;
          }
        });
        for (const row of rows) {
          const i = row[0] as number;
          results[i] = { ok: true, run: slim ? completedRun(claimRows[i]!, updates[i], texts[i], row) : decodeRun(row, 1) };
        }
        for (const i of part) this.forgetClaim(updates[i]);
        if (rows.length === n) continue;
        // the rest: not found, or no longer running under that lease (rare: one more statement)
        const missing = part.filter((i) => results[i] === undefined);
        const found = await this.exec('read', 'updateIterations', async (client) => {
          const res = await client.query<{ id: string }>(`select id from ${this.s}.runs where id = any($1::text[])`, [missing.map((i) => updates[i].id)]);
          return new Set(res.rows.map((r) => r.id));
        });
        for (const i of missing) {
          const u = updates[i];
          results[i] = found.has(u.id) ? { ok: false, reason: 'lease_lost' } : { ok: false, reason: 'not_found' };
          if (ambiguous && found.has(u.id)) {
            // a first attempt that went through before the link broke: accept its result
            const current = await this.getRun(u.id);
            if (
              current &&
              current.status === u.status &&
              current.leaseToken === undefined &&
              (u.finishedOn === undefined || current.finishedOn === u.finishedOn) &&
              (u.dueAt === undefined || current.dueAt === intMs(u.dueAt))
            ) {
              results[i] = { ok: true, run: current };
            }
          }
        }
      }
    }
    return results;
  }

  /** the claim row of this lease is no longer needed */
  private forgetClaim(lease: { id: string; leaseToken: string }): void {
    const row = this.claimedRows.get(lease.id);
    if (row !== undefined && row[COL_LEASE_TOKEN] === lease.leaseToken) this.claimedRows.delete(lease.id);
  }

  private readonly updateSqlCache = new Map<string, string>();

  /**
   * One statement per batch, applied where the run is still `running` under the update's lease
   * token. Ids and tokens come as arrays in id order and the join runs through unnest(), so rows
   * are locked in id order. Each other column (UPDATE_COLUMNS) is left out when no update of the
   * batch sets it, sent once when all set the same value (a batch of completions shares status,
   * finish time and no undo), else as an array: most batches parse two arrays, not eleven.
   * `slim` reads back only the columns another writer may change while the run is leased (abort
   * request, log count, progress): the caller knows the rest from the claim (see completedRun);
   * otherwise the whole row is returned.
   */
  private updateStatement(
    slim: boolean,
    req: number[],
    ids: string[],
    tokens: string[],
    columns: Array<Array<string | number | null>>,
  ): { name: string; text: string; values: string[] } {
    const values = [pgScalarArray(req), pgTextArray(ids), pgTextArray(tokens)];
    const modes: Array<'omit' | 'one' | 'all'> = [];
    for (let c = 0; c < UPDATE_COLUMNS.length; c++) {
      const col = UPDATE_COLUMNS[c];
      const vals = columns[c];
      const first = vals[0];
      let same = true;
      let anySet = false;
      for (let k = 0; k < vals.length; k++) {
        if (vals[k] !== first) same = false;
        if (vals[k] !== null && vals[k] !== col.unset) anySet = true;
      }
      if (!anySet) modes.push('omit');
      else if (same) {
        modes.push('one');
        values.push(String(first));
      } else {
        modes.push('all');
        values.push(col.sqlType === 'text' ? pgTextArray(vals as Array<string | null>) : pgScalarArray(vals as Array<number | null>));
      }
    }
    const signature = `${slim ? 's' : 'f'}${modes.map((m) => (m === 'omit' ? 0 : m === 'one' ? 1 : 2)).join('')}`;
    let text = this.updateSqlCache.get(signature);
    if (text === undefined) {
      const arrays = ['$1::int[]', '$2::text[]', '$3::text[]'];
      const names = ['req', 'id', 'lease_token'];
      const sets: string[] = [];
      let param = 3;
      let status = '';
      let error = 'r.error';
      for (let c = 0; c < UPDATE_COLUMNS.length; c++) {
        const col = UPDATE_COLUMNS[c];
        if (modes[c] === 'omit') continue;
        param++;
        let value: string;
        if (modes[c] === 'one') value = `$${param}::${col.sqlType}`;
        else {
          arrays.push(`$${param}::${col.sqlType}[]`);
          names.push(col.name);
          value = `x.${col.name}`;
        }
        if (col.name === 'status') status = value;
        if (col.name === 'error') error = col.set(value);
        else sets.push(col.set(value));
      }
      // every update sets a status; a success clears the error (the failure of an execution that was retried)
      sets.push(`error = case when ${status} = 'success' then null else ${error} end`);
      const setList = sets.join(', ');
      const arrayList = arrays.join(', ');
      const nameList = names.join(', ');
      const returning = slim ? 'x.req, r.abort_requested, r.log_count, r.progress' : `x.req, ${cols('r')}`;
      text = `update ${this.s}.runs r set ${setList}, lease_token = null, lease_expires_at = null
        from unnest(${arrayList}) as x(${nameList})
        where r.id = x.id and r.status = 'running' and r.lease_token = x.lease_token
        returning ${returning}`;
      this.updateSqlCache.set(signature, text);
    }
    return { name: `tasklane_update_${signature}`, text, values };
  }

  async renewLeases(nodeId: string, leases: LeaseRenewal[], now: number, leaseMs: number): Promise<RenewResult> {
    if (leases.length === 0) return { lost: [], abortRequested: [] };
    const expires = (intMs(now) ?? Date.now()) + Math.max(0, Math.round(leaseMs));
    const renewed = await this.exec('idempotent', 'renewLeases', async (client) => {
      const res = await client.query<{ id: string; lease_token: string; abort_requested: boolean }>(
        `with l as (select * from unnest($1::text[], $2::text[]) as l(id, token)),
         locked as (
           select r.id from ${this.s}.runs r join l on r.id = l.id
           where r.status = 'running' and r.lease_token = l.token and r.node_id = $3
           order by r.id
           for update of r
         )
         update ${this.s}.runs r set lease_expires_at = $4
         from locked where r.id = locked.id
         returning r.id, r.lease_token, r.abort_requested`,
        [leases.map((l) => l.id), leases.map((l) => l.leaseToken), nodeId, expires],
      );
      return res.rows;
    });
    // per item: an entry with a stale token is lost even when another entry renews the same run
    const kept = new Set(renewed.map((r) => `${r.id}\u0000${r.lease_token}`));
    const lost = leases.filter((l) => !kept.has(`${l.id}\u0000${l.leaseToken}`));
    for (const l of lost) this.forgetClaim(l);
    return {
      lost: lost.map((l) => l.id),
      abortRequested: renewed.filter((r) => r.abort_requested).map((r) => r.id),
    };
  }

  async requestAbort(id: string, message: string, now: string): Promise<AbortResult> {
    if (!storable(id)) return { kind: 'not_found' };
    const error = JSON.stringify({ message, code: 'ABORTED' });
    const row = await this.exec('write', 'requestAbort', async (client) => {
      const res = await client.query<RunRow & { prev_status: RunStatus; prev_leased: boolean }>(
        `with cur as (
           select id, status, (lease_token is not null) as leased from ${this.s}.runs where id = $1 for update
         ),
         upd as (
           update ${this.s}.runs r set
             status = 'aborted',
             error = $2::json,
             finished_on = $3,
             finished_at = $4,
             lease_token = null,
             lease_expires_at = null
           from cur
           where r.id = cur.id and (cur.status = 'pending' or (cur.status = 'running' and not cur.leased))
           returning ${cols('r')}
         ),
         req as (
           update ${this.s}.runs r set abort_requested = true
           from cur
           where r.id = cur.id and cur.status = 'running' and cur.leased
           returning ${cols('r')}
         )
         select cur.status as prev_status, cur.leased as prev_leased, x.*
         from cur
         left join (select * from upd union all select * from req) x on x.id = cur.id`,
        [id, error, now, isoToMs(now)],
      );
      return res.rows[0];
    });
    if (!row) return { kind: 'not_found' };
    if (row.prev_status === 'pending' || (row.prev_status === 'running' && !row.prev_leased)) {
      return { kind: 'aborted', run: toRecord(row) };
    }
    if (row.prev_status === 'running') return { kind: 'requested', run: toRecord(row) };
    const current = await this.getRun(id);
    if (!current) return { kind: 'not_found' };
    return { kind: 'finished', run: current };
  }

  async saveProgress(id: string, progress: RunProgress): Promise<void> {
    if (!storable(id)) return; // no run has such an id
    await this.exec('idempotent', 'saveProgress', (client) =>
      client.query(`update ${this.s}.runs set progress = $2::json where id = $1`, [id, jsonText(progress)]),
    );
  }

  // ---------------------------------------------------------------------------------------------
  // logs

  async appendLogs(logs: RunLog[], maxPerRun: number): Promise<number> {
    if (logs.length === 0 || !(maxPerRun > 0)) return 0;
    const rows = logs.map((log, i) =>
      JSON.stringify({
        i,
        run_id: log.runId,
        type: log.type,
        message: freeText(log.message),
        data: jsonText(log.data),
        created_on: log.createdOn,
      }),
    );
    const chunks = chunkBySize(
      logs.map((_, i) => i),
      (i) => rows[i].length,
      MAX_BATCH_ROWS,
      MAX_BATCH_BYTES,
    );
    let kept = 0;
    for (const chunk of chunks) {
      const payload = `[${chunk.map((i) => rows[i]).join(',')}]`;
      kept += await this.exec('write', 'appendLogs', async (client) => {
        const res = await client.query<{ kept: number }>(
          `with x as (
             select * from json_to_recordset($1::json) as x(i integer, run_id text, type text, message text, data text, created_on text)
           ),
           numbered as (
             select x.*, row_number() over (partition by x.run_id order by x.i) as rn from x
           ),
           locked as (
             select r.id, r.log_count from ${this.s}.runs r
             where r.id in (select run_id from x)
             order by r.id
             for update
           ),
           kept as (
             select n.* from numbered n join locked l on l.id = n.run_id where l.log_count + n.rn <= $2
           ),
           ins as (
             insert into ${this.s}.logs (run_id, type, message, data, created_on)
             select run_id, type, message, data::json, created_on from kept order by i
             returning 1
           ),
           upd as (
             update ${this.s}.runs r set log_count = r.log_count + k.n
             from (select run_id, count(*)::int as n from kept group by run_id) k
             where r.id = k.run_id
             returning 1
           )
           select (select count(*) from ins)::int as kept, (select count(*) from upd)::int as runs`,
          [payload, Math.floor(maxPerRun)],
        );
        return res.rows[0]?.kept ?? 0;
      });
    }
    return kept;
  }

  async listLogs(query: ListLogsQuery): Promise<Page<RunLog>> {
    const limit = clampLimit(query.limit);
    if (!storable(query.runId)) return { items: [] }; // no run has such an id
    let after = 0;
    if (query.cursor !== undefined && query.cursor !== '') {
      if (!/^\d{1,18}$/.test(query.cursor)) throw new InvalidArgumentError(`Invalid log cursor "${String(query.cursor).slice(0, 40)}".`);
      after = Number(query.cursor);
    }
    const rows = await this.exec('read', 'listLogs', async (client) => {
      const res = await client.query<{ id: number; run_id: string; type: LogType; message: string; data: string | null; created_on: string }>(
        `select id, run_id, type, message, data, created_on from ${this.s}.logs
         where run_id = $1 and id > $2 order by id limit $3`,
        [query.runId, after, limit + 1],
      );
      return res.rows;
    });
    const items = rows.slice(0, limit).map((r) => {
      const log: RunLog = { runId: r.run_id, type: r.type, message: r.message, createdOn: r.created_on };
      if (r.data !== null) log.data = JSON.parse(r.data);
      return log;
    });
    return rows.length > limit ? { items, cursor: String(rows[limit - 1].id) } : { items };
  }

  // ---------------------------------------------------------------------------------------------
  // values, definitions, schedules

  async getValue(runId: string, key: string): Promise<unknown | undefined> {
    if (!storable(runId) || !storable(key)) return undefined;
    return this.exec('read', 'getValue', async (client) => {
      const res = await client.query<{ value: string }>(
        `select value from ${this.s}.run_values where run_id = $1 and key = $2`,
        [runId, key],
      );
      return res.rows[0] ? JSON.parse(res.rows[0].value) : undefined;
    });
  }

  async setValue(runId: string, key: string, value: unknown): Promise<void> {
    exactText(runId, 'runId');
    exactText(key, 'key');
    const text = jsonText(value);
    await this.exec('idempotent', 'setValue', (client) =>
      text === null
        ? client.query(`delete from ${this.s}.run_values where run_id = $1 and key = $2`, [runId, key])
        : client.query(
            `insert into ${this.s}.run_values (run_id, key, value) values ($1, $2, $3::json)
             on conflict (run_id, key) do update set value = excluded.value`,
            [runId, key, text],
          ),
    );
  }

  async getDisabledDefinitions(): Promise<Set<string>> {
    return this.exec('read', 'getDisabledDefinitions', async (client) => {
      const res = await client.query<{ definition_id: string }>(
        `select definition_id from ${this.s}.definitions where disabled`,
      );
      return new Set(res.rows.map((r) => r.definition_id));
    });
  }

  async setDefinitionDisabled(definitionId: string, disabled: boolean): Promise<void> {
    exactText(definitionId, 'definitionId');
    await this.exec('idempotent', 'setDefinitionDisabled', (client) =>
      client.query(
        `insert into ${this.s}.definitions (definition_id, disabled, updated_at) values ($1, $2, now())
         on conflict (definition_id) do update set disabled = excluded.disabled, updated_at = now()`,
        [definitionId, disabled],
      ),
    );
  }

  async recordScheduleTick(scheduleId: string, tick: string): Promise<boolean> {
    return this.exec('write', 'recordScheduleTick', async (client) => {
      const res = await client.query(
        `insert into ${this.s}.schedule_ticks (schedule_id, tick) values ($1, $2) on conflict do nothing`,
        [scheduleId, tick],
      );
      return res.rowCount === 1;
    });
  }

  async lastScheduleTick(scheduleId: string): Promise<string | null> {
    return this.exec('read', 'lastScheduleTick', async (client) => {
      // max() over the primary key (schedule_id, tick): one index probe
      const res = await client.query<{ tick: string | null }>(`select max(tick) as tick from ${this.s}.schedule_ticks where schedule_id = $1`, [scheduleId]);
      return res.rows[0]?.tick ?? null;
    });
  }

  async deleteFinishedBefore(before: string, limit: number): Promise<number> {
    const ms = isoToMs(before);
    if (ms === null) throw new InvalidArgumentError(`deleteFinishedBefore: not an ISO date: ${String(before).slice(0, 40)}`);
    const max = Math.max(0, Math.floor(limit));
    if (max === 0) return 0;
    return this.exec('idempotent', 'deleteFinishedBefore', async (client) => {
      const res = await client.query<{ n: number }>(
        `with victims as (
           select id from ${this.s}.runs
           where finished_at < $1 and status in ${FINISHED}
           order by finished_at
           limit $2
           for update skip locked
         ),
         dl as (delete from ${this.s}.logs where run_id in (select id from victims)),
         dv as (delete from ${this.s}.run_values where run_id in (select id from victims)),
         dr as (delete from ${this.s}.runs where id in (select id from victims) returning 1)
         select count(*)::int as n from dr`,
        [ms, max],
      );
      return res.rows[0]?.n ?? 0;
    });
  }

  async deleteRun(id: string): Promise<DeleteRunResult> {
    if (!storable(id)) return { kind: 'not_found' };
    // One statement: the run and its descendants, deleted only when none is unfinished. Runs
    // never leave a finished status, so a check and a delete in the same snapshot cannot disagree.
    const row = await this.exec('idempotent', 'deleteRun', async (client) => {
      const res = await client.query<{ found: number; open_id: string | null; deleted: string[] | null }>(
        `with recursive tree(id) as (
           select id from ${this.s}.runs where id = $1
           union
           select r.id from ${this.s}.runs r join tree on r.parent_id = tree.id
         ),
         members as (select r.id, r.status from ${this.s}.runs r join tree on r.id = tree.id),
         open as (select id from members where status not in ${FINISHED} order by id limit 1),
         dl as (delete from ${this.s}.logs where run_id in (select id from members) and not exists (select 1 from open)),
         dv as (delete from ${this.s}.run_values where run_id in (select id from members) and not exists (select 1 from open)),
         dr as (delete from ${this.s}.runs where id in (select id from members) and not exists (select 1 from open) returning id)
         select (select count(*) from members)::int as found, (select id from open) as open_id, (select array_agg(id order by id) from dr) as deleted`,
        [id],
      );
      return res.rows[0];
    });
    if (row.open_id !== null) {
      const open = await this.getRun(row.open_id);
      if (open) return { kind: 'unfinished', run: open };
    }
    // a retried statement may find the run deleted by its first attempt
    if (row.found === 0 || row.deleted === null) return { kind: 'not_found' };
    return { kind: 'deleted', ids: [id, ...row.deleted.filter((d) => d !== id)] };
  }

  // ---------------------------------------------------------------------------------------------
  // locals, restarts

  async readLocal(definitionId: string, key: string): Promise<LocalEntry> {
    if (!storable(definitionId) || !storable(key)) return { value: undefined, version: 0 };
    return this.exec('read', 'readLocal', async (client) => {
      const res = await client.query<{ value: string | null; version: number }>(
        `select value, version from ${this.s}.locals where definition_id = $1 and key = $2`,
        [definitionId, key],
      );
      const row = res.rows[0];
      return row ? { value: parseJson(row.value), version: row.version } : { value: undefined, version: 0 };
    });
  }

  /**
   * One statement. Its first step upserts the definition's row, which locks it and reads its
   * restart cut-off as last committed (ON CONFLICT DO UPDATE works on the latest row version, not
   * the statement's snapshot): a restart holding that row (restartDefinition) is waited for, and
   * its cut-off is then seen; a restart coming after waits for this write to commit, then clears
   * what it wrote. The locals of one definition are thus written one at a time (short statements).
   * The compare-and-set itself is the version condition, re-checked by PostgreSQL on the row's
   * latest version when another writer changed it meanwhile.
   */
  async writeLocal(write: LocalWrite): Promise<LocalWriteResult> {
    exactText(write.definitionId, 'definitionId');
    exactText(write.key, 'key');
    if (write.writerRunId !== undefined) exactText(write.writerRunId, 'writerRunId');
    const text = jsonText(write.value);
    const expected = write.expectedVersion;
    // the write proper, on the rows of `ok` (one row when the writer is not refused)
    const step =
      expected === undefined
        ? `insert into ${this.s}.locals (definition_id, key, value, version) select $1, $2, $3::json, 1 from ok
           on conflict (definition_id, key) do update set value = excluded.value, version = locals.version + 1
           returning version`
        : expected === 0
          ? `insert into ${this.s}.locals (definition_id, key, value, version) select $1, $2, $3::json, 1 from ok
             on conflict (definition_id, key) do nothing
             returning version`
          : `update ${this.s}.locals set value = $3::json, version = version + 1
             where definition_id = $1 and key = $2 and version = $5 and exists (select 1 from ok)
             returning version`;
    const row = await this.exec('write', 'writeLocal', async (client) => {
      const res = await client.query<{ allowed: number; version: number | null }>(
        `with d as (
           insert into ${this.s}.definitions (definition_id) values ($1)
           on conflict (definition_id) do update set definition_id = excluded.definition_id
           returning restart_cutoff
         ),
         ok as (select 1 as one from d where $4::text is null or d.restart_cutoff is null or $4::text collate "C" >= d.restart_cutoff),
         w as (${step})
         select (select count(*) from ok)::int as allowed, (select version from w) as version`,
        // $5 only where the statement has it (a value without its parameter is refused)
        expected === undefined || expected === 0
          ? [write.definitionId, write.key, text, write.writerRunId ?? null]
          : [write.definitionId, write.key, text, write.writerRunId ?? null, expected],
      );
      return res.rows[0];
    });
    if (row.allowed === 0) return { ok: false, reason: 'restarted' };
    if (row.version === null) return { ok: false, reason: 'conflict' };
    return { ok: true, version: row.version };
  }

  async listLocals(definitionId: string): Promise<Map<string, unknown>> {
    if (!storable(definitionId)) return new Map();
    return this.exec('read', 'listLocals', async (client) => {
      const res = await client.query<{ key: string; value: string }>(
        `select key, value from ${this.s}.locals where definition_id = $1 and value is not null order by key`,
        [definitionId],
      );
      return new Map(res.rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
    });
  }

  /**
   * In one transaction: the cut-off first (its upsert locks the definition's row, as every local
   * write does: see writeLocal), then the locals cleared in a statement whose snapshot is taken
   * after that lock, so it sees every write that held the lock before.
   */
  async restartDefinition(definitionId: string, cutoff: string): Promise<{ localsCleared: number }> {
    exactText(definitionId, 'definitionId');
    exactText(cutoff, 'cutoff');
    return this.exec('idempotent', 'restartDefinition', (client) =>
      this.transaction(client, async () => {
        await client.query(
          `insert into ${this.s}.definitions (definition_id, restart_cutoff) values ($1, $2)
           on conflict (definition_id) do update set
             restart_cutoff = greatest(${this.s}.definitions.restart_cutoff, excluded.restart_cutoff), updated_at = now()`,
          [definitionId, cutoff],
        );
        const res = await client.query(
          `update ${this.s}.locals set value = null, version = version + 1 where definition_id = $1 and value is not null`,
          [definitionId],
        );
        return { localsCleared: res.rowCount ?? 0 };
      }),
    );
  }

  async abortDefinitionRuns(request: AbortRunsRequest): Promise<AbortRunsResult> {
    const limit = Math.floor(request.limit);
    if (!(limit > 0) || !storable(request.definitionId) || !storable(request.before)) return { aborted: [], requested: [] };
    const error = JSON.stringify({ message: String(request.message), code: 'ABORTED' });
    // Each change checks the row as it is when written (a claim may have taken a pending run
    // meanwhile): a run missed that way is found by the next call, and a claim after the restart's
    // cut-off was recorded hands it out with its abort requested anyway.
    const rows = await this.exec('write', 'abortDefinitionRuns', async (client) => {
      const res = await client.query<RunRow & { kind: 'aborted' | 'requested' }>(
        `with candidates as (
           (select id from ${this.s}.runs where status = 'pending' and definition_id = $1 and id < $2 order by id limit $3)
           union all
           (select id from ${this.s}.runs where status = 'running' and definition_id = $1 and id < $2
              and (lease_token is null or not abort_requested) order by id limit $3)
         ),
         chosen as (select id from candidates order by id limit $3),
         ended as (
           update ${this.s}.runs r set status = 'aborted', error = $4::json, finished_on = $5, finished_at = $6,
             lease_token = null, lease_expires_at = null
           from chosen c
           where r.id = c.id and (r.status = 'pending' or (r.status = 'running' and r.lease_token is null))
           returning ${cols('r')}
         ),
         req as (
           update ${this.s}.runs r set abort_requested = true
           from chosen c
           where r.id = c.id and r.status = 'running' and r.lease_token is not null and not r.abort_requested
           returning ${cols('r')}
         )
         select 'aborted' as kind, * from ended
         union all
         select 'requested' as kind, * from req
         order by id`,
        [request.definitionId, request.before, limit, error, request.now, isoToMs(request.now)],
      );
      return res.rows;
    });
    return {
      aborted: rows.filter((r) => r.kind === 'aborted').map(toRecord),
      requested: rows.filter((r) => r.kind === 'requested').map(toRecord),
    };
  }

  // ---------------------------------------------------------------------------------------------
  // for the distribution and the admin helpers

  /** Runs `fn` with a pooled client (retried only while no connection can be made): for admin tools and tests. */
  async withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.exec('write', 'query', fn);
  }
}

export function postgresStorage(options: PostgresStorageOptions): PostgresStorage {
  return new PostgresStorage(options);
}
