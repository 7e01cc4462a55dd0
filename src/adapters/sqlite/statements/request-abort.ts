import type Database from 'better-sqlite3';
import { isFinished, type RunError } from '../../../api/types';
import type { AbortResult } from '../../../ports/storage';
import type { RunReads } from './get-runs';

/** one run's abort; run in a `BEGIN IMMEDIATE` transaction */
export type RequestAbort = Database.Transaction<(id: string, message: string, now: string) => AbortResult>;

/**
 * A run under a lease is asked to abort (its holder sees the flag at its next renewal); any other
 * unfinished run ends aborted at once.
 */
export function prepareRequestAbort(db: Database.Database, reads: RunReads): RequestAbort {
  const markAbortRequested = db.prepare<[string]>('UPDATE tasklane_runs SET abort_requested = 1 WHERE id = ?');
  const abortNow = db.prepare<[string, string, string]>(
    `UPDATE tasklane_runs SET status = 'aborted', error = ?, finished_on = ?, lease_token = NULL, lease_expires_at = NULL WHERE id = ?`,
  );
  return db.transaction((id: string, message: string, now: string): AbortResult => {
    const run = reads.getRun(id);
    if (!run) return { kind: 'not_found' };
    if (isFinished(run.status)) return { kind: 'finished', run };
    if (run.status === 'running' && run.leaseToken !== undefined) {
      markAbortRequested.run(id);
      run.abortRequested = true;
      return { kind: 'requested', run };
    }
    const error: RunError = { message, code: 'ABORTED' };
    abortNow.run(JSON.stringify(error), now, id);
    run.status = 'aborted';
    run.error = error;
    run.finishedOn = now;
    return { kind: 'aborted', run };
  });
}
