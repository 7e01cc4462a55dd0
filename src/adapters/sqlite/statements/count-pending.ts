import type Database from 'better-sqlite3';

/** pending runs per definition */
export type CountPending = () => Map<string, number>;

export function prepareCountPending(db: Database.Database): CountPending {
  const countPending = db.prepare<[], { definition_id: string; n: number }>(
    `SELECT definition_id, count(*) AS n FROM tasklane_runs WHERE status = 'pending' GROUP BY definition_id`,
  );
  return () => new Map(countPending.all().map((r) => [r.definition_id, r.n]));
}
