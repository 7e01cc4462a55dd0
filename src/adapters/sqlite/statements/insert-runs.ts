import type Database from 'better-sqlite3';
import { isFinished } from '../../../api/types';
import type { RunRecord } from '../../../ports/run-record';
import { RUN_COLUMNS, toRecord, toRow, type RunRow } from '../run-row';
import type { FindByKey } from './find-by-key';
import type { RunReads } from './get-runs';

export type InsertRuns = (runs: RunRecord[]) => Array<{ run: RunRecord; created: boolean }>;

/**
 * Inserts the runs in order: a run with the key of an unfinished run of its definition gives that
 * run back (not created), as does a run whose id is already stored (the insert was done before).
 * The caller wraps it in a transaction: the storage's `BEGIN IMMEDIATE`, or a savepoint of a
 * host's transaction (a transactional trigger runs the same code on the host's connection).
 */
export function prepareInsertRuns(db: Database.Database, reads: RunReads, findByKey: FindByKey): InsertRuns {
  const insertRun = db.prepare<RunRow>(
    `INSERT INTO tasklane_runs (${RUN_COLUMNS.join(', ')}) VALUES (${RUN_COLUMNS.map(() => '?').join(', ')}) ON CONFLICT (id) DO NOTHING`,
  );
  return (runs) => {
    const out: Array<{ run: RunRecord; created: boolean }> = [];
    for (const run of runs) {
      if (run.key !== undefined && !isFinished(run.status)) {
        const existing = findByKey(run.definitionId, run.key);
        if (existing) {
          out.push({ run: existing, created: false });
          continue;
        }
      }
      const row = toRow(run);
      if (insertRun.run(...row).changes === 0) {
        // this id is already stored: the insert was done before
        const existing = reads.getRun(run.id);
        if (existing) {
          out.push({ run: existing, created: false });
          continue;
        }
      }
      out.push({ run: toRecord(row), created: true });
    }
    return out;
  };
}
