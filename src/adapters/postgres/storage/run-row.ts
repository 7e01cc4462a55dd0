import type { QueryResultRow } from 'pg';
import type { RetryPolicy } from '../../../api/retry-policy';
import type { RunProgress, RunStatus } from '../../../api/types';
import type { RunRecord } from '../../../ports/run-record';
import { parseJson } from './column-values';

/** A row of `runs` as read by the storage (json and bigint columns as the storage's parsers give them). */
export interface RunRow extends QueryResultRow {
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

const RUN_COLUMN_NAMES: ReadonlyArray<keyof RunRow & string> = [
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
];

/** The run columns of {@link RunRow}, as a select list (optionally qualified by a table alias). */
export function cols(alias?: string): string {
  return RUN_COLUMN_NAMES.map((c) => (alias ? `${alias}.${c}` : c)).join(', ');
}

/** columns whose value a client's default type parsers would change (json parsed, bigint as text) */
const RETYPED_COLUMNS: ReadonlySet<string> = new Set([
  'input',
  'output',
  'error',
  'progress',
  'context',
  'due_at',
  'lease_expires_at',
  'retry_policy',
  'original_input',
]);

/**
 * {@link cols} for a host's connection, whose type parsers are not the storage's: json and bigint
 * columns are read as text, which {@link toRecord} decodes.
 */
export function portableCols(alias: string): string {
  return RUN_COLUMN_NAMES.map((c) => (RETYPED_COLUMNS.has(c) ? `${alias}.${c}::text as ${c}` : `${alias}.${c}`)).join(', ');
}

/** the statuses of a run that has not ended (fixed SQL) */
export const UNFINISHED = `('pending', 'running')`;
/** the statuses of a run that has ended (fixed SQL) */
export const FINISHED = `('success', 'failed', 'aborted')`;

/** The run a row holds (SQL NULL = the field is absent). */
export function toRecord(r: RunRow): RunRecord {
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
