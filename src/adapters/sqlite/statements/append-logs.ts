import type Database from 'better-sqlite3';
import { InvalidArgumentError } from '../../../api/errors';
import type { LogType, RunLog } from '../../../api/types';
import { LOG_TYPES } from '../../shared/record-checks';
import { json } from '../run-row';

/** the columns of one log line, in the insert's order */
export interface LogParams {
  run_id: string;
  type: LogType;
  message: string;
  data: string | null;
  created_on: string;
}

/** log lines kept while their run has fewer than maxPerRun; run in a `BEGIN IMMEDIATE` transaction */
export type AppendLogs = Database.Transaction<(logs: LogParams[], maxPerRun: number) => number>;

/** A log line serialised (and so validated) before the transaction. */
export function toLogParams(log: RunLog): LogParams {
  if (!LOG_TYPES.has(log.type)) throw new InvalidArgumentError(`Unknown log type ${JSON.stringify(log.type)}.`);
  return { run_id: log.runId, type: log.type, message: String(log.message), data: json(log.data), created_on: log.createdOn };
}

/** Each line counts against its run's log_count first: a run at its bound (or gone) keeps none. */
export function prepareAppendLogs(db: Database.Database): AppendLogs {
  const countLog = db.prepare<[string, number]>('UPDATE tasklane_runs SET log_count = log_count + 1 WHERE id = ? AND log_count < ?');
  const insertLog = db.prepare<[string, LogType, string, string | null, string]>(
    'INSERT INTO tasklane_logs (run_id, type, message, data, created_on) VALUES (?, ?, ?, ?, ?)',
  );
  return db.transaction((logs: LogParams[], maxPerRun: number): number => {
    let kept = 0;
    for (const log of logs) {
      if (countLog.run(log.run_id, maxPerRun).changes === 0) continue;
      insertLog.run(log.run_id, log.type, log.message, log.data, log.created_on);
      kept++;
    }
    return kept;
  });
}
