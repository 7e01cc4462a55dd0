import type { RunRecord } from '../../../ports/run-record';
import type { IterationUpdate } from '../../../ports/storage';
import { intMs } from './column-values';
import { toRecord, type RunRow } from './run-row';
import { retryBit, undoBits, type SlimUpdateRow } from './update-statement';

/**
 * The row a completion left, from the run's claim row and the update, for a run claimed by this
 * storage and still under that claim's lease. Under a lease only the executing node changes the
 * run (claim, then this update); other writers change only `abort_requested` (requestAbort),
 * `log_count` (appendLogs) and `progress` (saveProgress), which `vol` reads back with the update,
 * and `lease_expires_at` (renewLeases), which the update clears. So this is exactly the row that
 * the full update statement would have returned.
 */
export function completedRun(
  claimRow: RunRow,
  u: IterationUpdate,
  t: { input: string | null; output: string | null; error: string | null },
  vol: SlimUpdateRow,
): RunRecord {
  // the claim row with the update's columns set (as the update statement sets them), lease
  // cleared, and what others may have written read back
  const row: RunRow = { ...claimRow };
  row.status = u.status;
  const dueAt = intMs(u.dueAt);
  if (dueAt !== null) row.due_at = dueAt;
  if (t.input !== null) {
    row.original_input = row.original_input ?? row.input; // the first change of input keeps the original
    row.input = t.input;
  }
  if (retryBit(u) === 1) {
    row.retries = row.retries + 1;
    row.iteration_base = row.iterations;
  }
  if (t.output !== null) row.output = t.output;
  if (t.error !== null) row.error = t.error;
  if (u.status === 'success') row.error = null; // as the statement: a success clears the error
  row.progress = vol.progress;
  if (u.finishedOn !== undefined && u.finishedOn !== null) row.finished_on = u.finishedOn;
  const undo = undoBits(u);
  row.attempt = Math.max(0, row.attempt - (undo & 1));
  row.iterations = Math.max(0, row.iterations - (undo >> 1));
  if ((undo & 1) === 1 && row.attempt === 0) {
    // a first claim given back: the run is as before it (as the statement sets it)
    row.started_on = null;
    row.node_id = null;
  }
  row.lease_token = null;
  row.lease_expires_at = null;
  row.abort_requested = vol.abort_requested;
  row.log_count = vol.log_count;
  return toRecord(row);
}
