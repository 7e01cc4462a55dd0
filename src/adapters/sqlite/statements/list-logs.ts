import type Database from 'better-sqlite3';
import type { ListLogsQuery, LogType, Page, RunLog } from '../../../api/types';
import { pageLimit, parseLogCursor } from '../../shared/paging';
import { parse } from '../run-row';

interface LogRow {
  seq: number;
  run_id: string;
  type: LogType;
  message: string;
  data: string | null;
  created_on: string;
}

export type ListLogs = (query: ListLogsQuery) => Page<RunLog>;

/** A run's log lines in order; the cursor is the sequence number of the last line of the page. */
export function prepareListLogs(db: Database.Database): ListLogs {
  const listLogs = db.prepare<[string, number, number], LogRow>(
    'SELECT seq, run_id, type, message, data, created_on FROM tasklane_logs WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?',
  );
  return (query) => {
    const limit = pageLimit(query.limit);
    const after = query.cursor === undefined ? 0 : parseLogCursor(query.cursor);
    const rows = listLogs.all(query.runId, after, limit + 1);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const items = page.map((r): RunLog => {
      const log: RunLog = { runId: r.run_id, type: r.type, message: r.message, createdOn: r.created_on };
      if (r.data !== null) log.data = parse(r.data);
      return log;
    });
    return more ? { items, cursor: String(page[page.length - 1].seq) } : { items };
  };
}
