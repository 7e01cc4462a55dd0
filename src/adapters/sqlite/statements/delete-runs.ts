import type Database from 'better-sqlite3';
import { isFinished, type RunStatus } from '../../../api/types';
import type { DeleteRunResult } from '../../../ports/storage';
import type { RunReads } from './get-runs';

/** Deletions of finished runs with their logs and values; each runs in a `BEGIN IMMEDIATE` transaction. */
export interface DeleteRuns {
  /** the oldest `limit` runs finished before `before`: how many went */
  finishedBefore: Database.Transaction<(before: string, limit: number) => number>;
  /** a run and its descendants, if all have ended */
  tree: Database.Transaction<(id: string) => DeleteRunResult>;
}

export function prepareDeleteRuns(db: Database.Database, reads: RunReads): DeleteRuns {
  const oldFinished = db
    .prepare<[string, number], string>(
      `SELECT id FROM tasklane_runs WHERE status IN ('success', 'failed', 'aborted') AND finished_on < ? ORDER BY finished_on, id LIMIT ?`,
    )
    .pluck();
  const deleteLogs = db.prepare<[string]>('DELETE FROM tasklane_logs WHERE run_id = ?');
  const deleteValues = db.prepare<[string]>('DELETE FROM tasklane_values WHERE run_id = ?');
  const deleteRun = db.prepare<[string]>('DELETE FROM tasklane_runs WHERE id = ?');
  // a run and its descendants (UNION, not UNION ALL: a parent cycle in hand-made records ends)
  const runTree = db.prepare<[string], { id: string; status: RunStatus }>(
    `WITH RECURSIVE tree(id) AS (
       SELECT id FROM tasklane_runs WHERE id = ?
       UNION
       SELECT r.id FROM tasklane_runs AS r INDEXED BY tasklane_runs_parent JOIN tree ON r.parent_id = tree.id
     )
     SELECT r.id, r.status FROM tree JOIN tasklane_runs AS r ON r.id = tree.id`,
  );
  const remove = (id: string): void => {
    deleteLogs.run(id);
    deleteValues.run(id);
    deleteRun.run(id);
  };
  return {
    finishedBefore: db.transaction((before: string, limit: number): number => {
      const ids = oldFinished.all(before, limit);
      for (const id of ids) remove(id);
      return ids.length;
    }),
    tree: db.transaction((id: string): DeleteRunResult => {
      const tree = runTree.all(id);
      if (tree.length === 0) return { kind: 'not_found' };
      const open = tree.find((node) => !isFinished(node.status));
      if (open) return { kind: 'unfinished', run: reads.getRun(open.id)! };
      // the asked run first, then its descendants
      const ids = [id, ...tree.map((node) => node.id).filter((treeId) => treeId !== id)];
      for (const treeId of ids) remove(treeId);
      return { kind: 'deleted', ids };
    }),
  };
}
