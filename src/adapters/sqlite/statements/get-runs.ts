import type Database from 'better-sqlite3';
import { isFinished, type RunStatus } from '../../../api/types';
import type { RunRecord } from '../../../ports/run-record';
import type { EndedRuns } from '../../../ports/storage';
import { inIdOrder, RUN_SELECT, toRecord, type RunRow } from '../run-row';

/** Reads of runs by id: one run, several (in the order asked), and which of several have ended. */
export interface RunReads {
  getRun(id: string): RunRecord | null;
  getRuns(ids: string[]): RunRecord[];
  getEndedRuns(ids: string[]): EndedRuns;
}

export function prepareRunReads(db: Database.Database): RunReads {
  const getRun = db.prepare<[string], RunRow>(`SELECT ${RUN_SELECT} FROM tasklane_runs WHERE id = ?`).raw();
  const getRuns = db.prepare<[string], RunRow>(`SELECT ${RUN_SELECT} FROM tasklane_runs WHERE id IN (SELECT value FROM json_each(?))`).raw();
  const getStatuses = db.prepare<[string], { id: string; status: RunStatus }>(
    `SELECT id, status FROM tasklane_runs WHERE id IN (SELECT value FROM json_each(?))`,
  );
  const reads: RunReads = {
    getRun(id) {
      const row = getRun.get(id);
      return row ? toRecord(row) : null;
    },
    getRuns(ids) {
      return ids.length === 0 ? [] : inIdOrder(getRuns.all(JSON.stringify(ids)), ids);
    },
    getEndedRuns(ids) {
      if (ids.length === 0) return { ended: [], missing: [] };
      // statuses only (most waited runs have not ended): whole rows are read for the ended ones
      const status = new Map<string, RunStatus>();
      for (const row of getStatuses.all(JSON.stringify(ids))) status.set(row.id, row.status);
      const endedIds = ids.filter((id) => {
        const s = status.get(id);
        return s !== undefined && isFinished(s);
      });
      const missing = ids.filter((id) => !status.has(id));
      return { ended: endedIds.length > 0 ? reads.getRuns(endedIds) : [], missing };
    },
  };
  return reads;
}
