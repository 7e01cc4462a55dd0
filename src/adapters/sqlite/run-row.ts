import { InvalidArgumentError } from '../../api/errors';
import type { RetryPolicy } from '../../api/retry-policy';
import type { RunError, RunProgress, RunStatus, TaskContext } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import { assertStatus } from '../shared/record-checks';

/**
 * The columns of `tasklane_runs`, each with its place in a {@link RunRow}. Run statements read in
 * raw mode (arrays): better-sqlite3 builds a 27-column object at ~7 µs, an array at ~3 µs. So a
 * row is an array, and code reads its columns by these names (`row[RUN.lease_token]`), never by
 * a bare position; every run statement selects {@link RUN_SELECT}, in this order.
 */
export const RUN = {
  id: 0,
  definition_id: 1,
  name: 2,
  status: 3,
  input: 4,
  output: 5,
  error: 6,
  progress: 7,
  iterations: 8,
  attempt: 9,
  parent_id: 10,
  key: 11,
  context: 12,
  after_id: 13,
  run_at: 14,
  scheduled_for: 15,
  created_on: 16,
  started_on: 17,
  finished_on: 18,
  node_id: 19,
  due_at: 20,
  target_node_id: 21,
  lease_token: 22,
  lease_expires_at: 23,
  abort_requested: 24,
  recoveries: 25,
  log_count: 26,
  backfilled: 27,
  retries: 28,
  retry_of: 29,
  retry_policy: 30,
  original_input: 31,
  iteration_base: 32,
} as const;

export type RunColumn = keyof typeof RUN;

/** the columns in row order */
export const RUN_COLUMNS: readonly RunColumn[] = Object.keys(RUN) as RunColumn[];
for (const [i, column] of RUN_COLUMNS.entries()) {
  if (RUN[column] !== i) throw new Error(`run-row.ts: RUN.${column} is ${RUN[column]}, its place in the list is ${i}`);
}

/** the select list of a whole run row */
export const RUN_SELECT = RUN_COLUMNS.join(', ');

/** the unfinished statuses, as an SQL list */
export const NOT_FINISHED = `('pending', 'running')`;

/** a run row, its columns in {@link RUN} order (JSON columns are TEXT, dueAt/leaseExpiresAt INTEGER ms) */
export type RunRow = [
  id: string,
  definition_id: string,
  name: string,
  status: RunStatus,
  input: string | null,
  output: string | null,
  error: string | null,
  progress: string | null,
  iterations: number,
  attempt: number,
  parent_id: string | null,
  key: string | null,
  context: string | null,
  after_id: string | null,
  run_at: string | null,
  scheduled_for: string | null,
  created_on: string,
  started_on: string | null,
  finished_on: string | null,
  node_id: string | null,
  due_at: number,
  target_node_id: string | null,
  lease_token: string | null,
  lease_expires_at: number | null,
  abort_requested: number,
  recoveries: number,
  log_count: number,
  backfilled: number,
  retries: number,
  retry_of: string | null,
  retry_policy: string | null,
  original_input: string | null,
  iteration_base: number,
];

/** refuses a record without a string id and definitionId, or with an unknown status */
export function assertRecord(run: RunRecord): void {
  if (typeof run.id !== 'string' || typeof run.definitionId !== 'string') {
    throw new InvalidArgumentError('A run record needs a string id and definitionId.');
  }
  assertStatus(run.status);
}

/** a record as the row that stores it (the insert's parameters) */
export function toRow(r: RunRecord): RunRow {
  const row = [] as unknown as RunRow;
  // assigned in column order, so the array stays packed
  row[RUN.id] = r.id;
  row[RUN.definition_id] = r.definitionId;
  row[RUN.name] = r.name;
  row[RUN.status] = r.status;
  row[RUN.input] = json(r.input);
  row[RUN.output] = json(r.output);
  row[RUN.error] = json(r.error);
  row[RUN.progress] = json(r.progress);
  row[RUN.iterations] = r.iterations ?? 0;
  row[RUN.attempt] = r.attempt ?? 0;
  row[RUN.parent_id] = r.parentId ?? null;
  row[RUN.key] = r.key ?? null;
  row[RUN.context] = json(r.context);
  row[RUN.after_id] = r.after ?? null;
  row[RUN.run_at] = r.runAt ?? null;
  row[RUN.scheduled_for] = r.scheduledFor ?? null;
  row[RUN.created_on] = r.createdOn;
  row[RUN.started_on] = r.startedOn ?? null;
  row[RUN.finished_on] = r.finishedOn ?? null;
  row[RUN.node_id] = r.nodeId ?? null;
  row[RUN.due_at] = r.dueAt ?? 0;
  row[RUN.target_node_id] = r.targetNodeId ?? null;
  row[RUN.lease_token] = r.leaseToken ?? null;
  row[RUN.lease_expires_at] = r.leaseExpiresAt ?? null;
  row[RUN.abort_requested] = r.abortRequested ? 1 : 0;
  row[RUN.recoveries] = r.recoveries ?? 0;
  row[RUN.log_count] = r.logCount ?? 0;
  row[RUN.backfilled] = r.backfilled ? 1 : 0;
  row[RUN.retries] = r.retries ?? 0;
  row[RUN.retry_of] = r.retryOf ?? null;
  row[RUN.retry_policy] = json(r.retryPolicy);
  row[RUN.original_input] = json(r.originalInput);
  row[RUN.iteration_base] = r.iterationBase ?? 0;
  return row;
}

/** the record a row stores */
export function toRecord(row: RunRow): RunRecord {
  const input = row[RUN.input];
  const run: RunRecord = {
    id: row[RUN.id],
    definitionId: row[RUN.definition_id],
    name: row[RUN.name],
    status: row[RUN.status],
    input: input === null ? undefined : parse(input),
    iterations: row[RUN.iterations],
    attempt: row[RUN.attempt],
    retries: row[RUN.retries],
    createdOn: row[RUN.created_on],
    dueAt: row[RUN.due_at],
    abortRequested: row[RUN.abort_requested] === 1,
    recoveries: row[RUN.recoveries],
    logCount: row[RUN.log_count],
    iterationBase: row[RUN.iteration_base],
  };
  const output = row[RUN.output];
  if (output !== null) run.output = parse(output);
  const error = row[RUN.error];
  if (error !== null) run.error = parse(error) as RunError;
  const progress = row[RUN.progress];
  if (progress !== null) run.progress = parse(progress) as RunProgress;
  const parentId = row[RUN.parent_id];
  if (parentId !== null) run.parentId = parentId;
  const key = row[RUN.key];
  if (key !== null) run.key = key;
  const retryOf = row[RUN.retry_of];
  if (retryOf !== null) run.retryOf = retryOf;
  const retryPolicy = row[RUN.retry_policy];
  if (retryPolicy !== null) run.retryPolicy = parse(retryPolicy) as RetryPolicy;
  const originalInput = row[RUN.original_input];
  if (originalInput !== null) run.originalInput = parse(originalInput);
  const context = row[RUN.context];
  if (context !== null) run.context = parse(context) as TaskContext;
  const after = row[RUN.after_id];
  if (after !== null) run.after = after;
  const runAt = row[RUN.run_at];
  if (runAt !== null) run.runAt = runAt;
  const scheduledFor = row[RUN.scheduled_for];
  if (scheduledFor !== null) run.scheduledFor = scheduledFor;
  if (row[RUN.backfilled] === 1) run.backfilled = true;
  const startedOn = row[RUN.started_on];
  if (startedOn !== null) run.startedOn = startedOn;
  const finishedOn = row[RUN.finished_on];
  if (finishedOn !== null) run.finishedOn = finishedOn;
  const nodeId = row[RUN.node_id];
  if (nodeId !== null) run.nodeId = nodeId;
  const targetNodeId = row[RUN.target_node_id];
  if (targetNodeId !== null) run.targetNodeId = targetNodeId;
  const leaseToken = row[RUN.lease_token];
  if (leaseToken !== null) run.leaseToken = leaseToken;
  const leaseExpiresAt = row[RUN.lease_expires_at];
  if (leaseExpiresAt !== null) run.leaseExpiresAt = leaseExpiresAt;
  return run;
}

/** the records of `rows` in the order of `ids` (each id once) */
export function inIdOrder(rows: RunRow[], ids: string[]): RunRecord[] {
  const byId = new Map<string, RunRow>();
  for (const row of rows) byId.set(row[RUN.id], row);
  const out: RunRecord[] = [];
  for (const id of ids) {
    const row = byId.get(id);
    if (row) out.push(toRecord(row));
  }
  return out;
}

/** JSON text of a value, or null for "nothing" (undefined, a function) */
export function json(value: unknown): string | null {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  return text === undefined ? null : text;
}

export function parse(text: string): unknown {
  return JSON.parse(text) as unknown;
}
