import type { RunId, TaskRun } from '../api/types';
import type { RunRecord } from '../ports/run-record';

/** The public view of a stored run: internal fields dropped, optional ones omitted when unset. */
export function toPublicRun<O = unknown>(r: RunRecord): TaskRun<O> {
  const run: TaskRun<O> = {
    id: r.id as RunId<O>, // the output type is the caller's to claim: the record's is unknown
    definitionId: r.definitionId,
    name: r.name,
    status: r.status,
    input: r.input,
    iterations: r.iterations,
    attempt: r.attempt,
    retries: r.retries,
    createdOn: r.createdOn,
  };
  if (r.output !== undefined) run.output = r.output as O;
  if (r.error !== undefined) run.error = r.error;
  if (r.progress !== undefined) run.progress = r.progress;
  if (r.parentId !== undefined) run.parentId = r.parentId;
  if (r.key !== undefined) run.key = r.key;
  if (r.retryOf !== undefined) run.retryOf = r.retryOf;
  if (r.context !== undefined) run.context = r.context;
  if (r.after !== undefined) run.after = r.after;
  // a due time a Date cannot hold (stored before durations were bounded, or by another writer)
  // is left out rather than making every read of the run throw RangeError
  if ((r.status === 'pending' || r.status === 'running') && r.dueAt > createdMs(r.createdOn) && r.dueAt <= MAX_DATE_MS)
    run.runAt = new Date(r.dueAt).toISOString();
  if (r.scheduledFor !== undefined) run.scheduledFor = r.scheduledFor;
  if (r.backfilled === true) run.backfilled = true;
  if (r.startedOn !== undefined) run.startedOn = r.startedOn;
  if (r.finishedOn !== undefined) run.finishedOn = r.finishedOn;
  if (r.nodeId !== undefined) run.nodeId = r.nodeId;
  return run;
}

/** the latest epoch ms a Date holds (ECMAScript: 8.64e15) */
const MAX_DATE_MS = 8.64e15;

let lastCreated = '';
let lastCreatedMs = 0;

/** runs made in one millisecond share their createdOn string: parsed once for them all */
function createdMs(createdOn: string): number {
  if (createdOn !== lastCreated) {
    lastCreated = createdOn;
    lastCreatedMs = Date.parse(createdOn);
  }
  return lastCreatedMs;
}
