import { InvalidArgumentError } from '../../../api/errors';
import type { ListLogsQuery, LogType, Page, RunLog } from '../../../api/types';
import { clampLimit, storable } from './column-values';
import type { StorageConnections } from './connections';

interface LogRow {
  id: number;
  run_id: string;
  type: LogType;
  message: string;
  data: string | null;
  created_on: string;
}

/** A run's log lines, oldest first; the cursor is the sequence number of the page's last line. */
export async function listLogs(db: StorageConnections, query: ListLogsQuery): Promise<Page<RunLog>> {
  const limit = clampLimit(query.limit);
  if (!storable(query.runId)) return { items: [] }; // no run has such an id
  let after = 0;
  if (query.cursor !== undefined && query.cursor !== '') {
    if (!/^\d{1,18}$/.test(query.cursor)) throw new InvalidArgumentError(`Invalid log cursor "${String(query.cursor).slice(0, 40)}".`);
    after = Number(query.cursor);
  }
  const rows = await db.exec('read', 'listLogs', async (client) => {
    const res = await client.query<LogRow>(
      `select id, run_id, type, message, data, created_on from ${db.s}.logs
       where run_id = $1 and id > $2 order by id limit $3`,
      [query.runId, after, limit + 1],
    );
    return res.rows;
  });
  const items = rows.slice(0, limit).map((r) => {
    const log: RunLog = { runId: r.run_id, type: r.type, message: r.message, createdOn: r.created_on };
    if (r.data !== null) log.data = JSON.parse(r.data);
    return log;
  });
  return rows.length > limit ? { items, cursor: String(rows[limit - 1].id) } : { items };
}
