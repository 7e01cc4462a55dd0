import type { RetryPolicy } from '../../api/retry-policy';
import type { RunError, RunProgress, RunStatus, TaskContext } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import { cloneJson } from './clone-json';
import type { DefState } from './def-state';

/** A stored run: the record's fields, held as JSON-normalised copies (see MemoryStorage). */
export class Row {
  id: string;
  definitionId: string;
  name: string;
  status: RunStatus;
  input: unknown;
  output: unknown;
  error: RunError | undefined;
  progress: RunProgress | undefined;
  iterations: number;
  attempt: number;
  parentId: string | undefined;
  key: string | undefined;
  context: TaskContext | undefined;
  after: string | undefined;
  runAt: string | undefined;
  scheduledFor: string | undefined;
  backfilled: boolean;
  createdOn: string;
  startedOn: string | undefined;
  finishedOn: string | undefined;
  nodeId: string | undefined;
  dueAt: number;
  targetNodeId: string | undefined;
  leaseToken: string | undefined;
  leaseExpiresAt: number | undefined;
  abortRequested: boolean;
  recoveries: number;
  logCount: number;
  retries: number;
  retryOf: string | undefined;
  retryPolicy: RetryPolicy | undefined;
  originalInput: unknown;
  iterationBase: number;
  /** bumped whenever the row changes place (queue, lease, finished): older heap entries are dead */
  ver = 0;

  constructor(
    r: RunRecord,
    readonly def: DefState,
  ) {
    this.id = r.id;
    this.definitionId = r.definitionId;
    this.name = r.name;
    this.status = r.status;
    this.input = cloneJson(r.input);
    this.output = cloneJson(r.output);
    this.error = cloneJson(r.error) as RunError | undefined;
    this.progress = cloneJson(r.progress) as RunProgress | undefined;
    this.iterations = r.iterations ?? 0;
    this.attempt = r.attempt ?? 0;
    this.parentId = r.parentId;
    this.key = r.key;
    this.context = cloneJson(r.context) as TaskContext | undefined;
    this.after = r.after;
    this.runAt = r.runAt;
    this.scheduledFor = r.scheduledFor;
    this.backfilled = r.backfilled === true;
    this.createdOn = r.createdOn;
    this.startedOn = r.startedOn;
    this.finishedOn = r.finishedOn;
    this.nodeId = r.nodeId;
    this.dueAt = r.dueAt ?? 0;
    this.targetNodeId = r.targetNodeId;
    this.leaseToken = r.leaseToken;
    this.leaseExpiresAt = r.leaseExpiresAt;
    this.abortRequested = r.abortRequested === true;
    this.recoveries = r.recoveries ?? 0;
    this.logCount = r.logCount ?? 0;
    this.retries = r.retries ?? 0;
    this.retryOf = r.retryOf;
    this.retryPolicy = cloneJson(r.retryPolicy) as RetryPolicy | undefined;
    this.originalInput = cloneJson(r.originalInput);
    this.iterationBase = r.iterationBase ?? 0;
  }
}

/** a copy of the row as a record (every JSON value copied) */
export function toRecord(r: Row): RunRecord {
  const out: RunRecord = {
    id: r.id,
    definitionId: r.definitionId,
    name: r.name,
    status: r.status,
    input: r.input === undefined ? undefined : cloneJson(r.input),
    iterations: r.iterations,
    attempt: r.attempt,
    retries: r.retries,
    createdOn: r.createdOn,
    dueAt: r.dueAt,
    abortRequested: r.abortRequested,
    recoveries: r.recoveries,
    logCount: r.logCount,
    iterationBase: r.iterationBase,
  };
  if (r.output !== undefined) out.output = cloneJson(r.output);
  if (r.error !== undefined) out.error = cloneJson(r.error) as RunError;
  if (r.progress !== undefined) out.progress = cloneJson(r.progress) as RunProgress;
  if (r.parentId !== undefined) out.parentId = r.parentId;
  if (r.key !== undefined) out.key = r.key;
  if (r.retryOf !== undefined) out.retryOf = r.retryOf;
  if (r.retryPolicy !== undefined) out.retryPolicy = cloneJson(r.retryPolicy) as RetryPolicy;
  if (r.originalInput !== undefined) out.originalInput = cloneJson(r.originalInput);
  if (r.context !== undefined) out.context = cloneJson(r.context) as TaskContext;
  if (r.after !== undefined) out.after = r.after;
  if (r.runAt !== undefined) out.runAt = r.runAt;
  if (r.scheduledFor !== undefined) out.scheduledFor = r.scheduledFor;
  if (r.backfilled) out.backfilled = true;
  if (r.startedOn !== undefined) out.startedOn = r.startedOn;
  if (r.finishedOn !== undefined) out.finishedOn = r.finishedOn;
  if (r.nodeId !== undefined) out.nodeId = r.nodeId;
  if (r.targetNodeId !== undefined) out.targetNodeId = r.targetNodeId;
  if (r.leaseToken !== undefined) out.leaseToken = r.leaseToken;
  if (r.leaseExpiresAt !== undefined) out.leaseExpiresAt = r.leaseExpiresAt;
  return out;
}
