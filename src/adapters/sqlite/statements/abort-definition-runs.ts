import type Database from 'better-sqlite3';
import type { AbortRunsResult } from '../../../ports/storage';
import { inIdOrder, RUN_SELECT, type RunRow } from '../run-row';

/**
 * A restart's runs: the oldest `limit` unfinished runs of the definition created before `before`;
 * `error` is the JSON of the aborted runs' error. Run in a `BEGIN IMMEDIATE` transaction.
 */
export type AbortDefinitionRuns = Database.Transaction<(definitionId: string, before: string, error: string, now: string, limit: number) => AbortRunsResult>;

/**
 * Pending and parked runs end aborted; runs under a lease are asked to abort (those already asked
 * are left out). Ids come from the partial indexes, then one statement per kind of change.
 */
export function prepareAbortDefinitionRuns(db: Database.Database): AbortDefinitionRuns {
  const pendingBefore = db
    .prepare<[string, string, number], string>(
      `SELECT id FROM tasklane_runs INDEXED BY tasklane_runs_pending WHERE status = 'pending' AND definition_id = ? AND id < ? ORDER BY id LIMIT ?`,
    )
    .pluck();
  const parkedBefore = db
    .prepare<[string, string, number], string>(
      `SELECT id FROM tasklane_runs INDEXED BY tasklane_runs_parked
        WHERE status = 'running' AND lease_token IS NULL AND definition_id = ? AND id < ? ORDER BY id LIMIT ?`,
    )
    .pluck();
  const leasedBefore = db
    .prepare<[string, string, number], string>(
      `SELECT id FROM tasklane_runs INDEXED BY tasklane_runs_leased
        WHERE status = 'running' AND lease_token IS NOT NULL AND definition_id = ? AND id < ? AND abort_requested = 0 ORDER BY id LIMIT ?`,
    )
    .pluck();
  const abortMany = db
    .prepare<[string, string, string], RunRow>(
      `UPDATE tasklane_runs SET status = 'aborted', error = ?, finished_on = ?, lease_token = NULL, lease_expires_at = NULL
        WHERE id IN (SELECT value FROM json_each(?)) RETURNING ${RUN_SELECT}`,
    )
    .raw();
  const requestMany = db
    .prepare<[string], RunRow>(`UPDATE tasklane_runs SET abort_requested = 1 WHERE id IN (SELECT value FROM json_each(?)) RETURNING ${RUN_SELECT}`)
    .raw();
  return db.transaction((definitionId: string, before: string, error: string, now: string, limit: number): AbortRunsResult => {
    // the oldest `limit` of the three kinds together
    const picked = [
      ...pendingBefore.all(definitionId, before, limit).map((id) => ({ id, end: true })),
      ...parkedBefore.all(definitionId, before, limit).map((id) => ({ id, end: true })),
      ...leasedBefore.all(definitionId, before, limit).map((id) => ({ id, end: false })),
    ]
      .sort((a, b) => (a.id < b.id ? -1 : 1))
      .slice(0, limit);
    const ending = picked.filter((p) => p.end).map((p) => p.id);
    const requesting = picked.filter((p) => !p.end).map((p) => p.id);
    return {
      aborted: ending.length > 0 ? inIdOrder(abortMany.all(error, now, JSON.stringify(ending)), ending) : [],
      requested: requesting.length > 0 ? inIdOrder(requestMany.all(JSON.stringify(requesting)), requesting) : [],
    };
  });
}
