import { InvalidArgumentError } from '../../api/errors';
import type { ListLogsQuery, Page, RunLog } from '../../api/types';
import { LOG_TYPES } from '../shared/record-checks';
import { pageLimit, parseLogCursor } from '../shared/paging';
import { cloneJson } from './clone-json';
import type { MemoryIndex } from './memory-index';

// A run's logs: a list per run, bounded by the run's log count; the cursor is an index in it.

export function appendLogs(index: MemoryIndex, logs: RunLog[], maxPerRun: number): number {
  const normalised = logs.map(toLog);
  let kept = 0;
  for (const log of normalised) {
    const row = index.runs.get(log.runId);
    if (!row || row.logCount >= maxPerRun) continue;
    let list = index.logs.get(log.runId);
    if (!list) {
      list = [];
      index.logs.set(log.runId, list);
    }
    list.push(log);
    row.logCount++;
    kept++;
  }
  return kept;
}

export function listLogs(index: MemoryIndex, query: ListLogsQuery): Page<RunLog> {
  const limit = pageLimit(query.limit);
  const list = index.logs.get(query.runId) ?? [];
  const start = query.cursor === undefined ? 0 : parseLogCursor(query.cursor);
  const end = Math.min(list.length, start + limit);
  const items: RunLog[] = [];
  for (let i = start; i < end; i++) items.push(copyLog(list[i]));
  return end < list.length ? { items, cursor: String(end) } : { items };
}

function toLog(log: RunLog): RunLog {
  if (!LOG_TYPES.has(log.type)) throw new InvalidArgumentError(`Unknown log type ${JSON.stringify(log.type)}.`);
  const out: RunLog = { runId: log.runId, type: log.type, message: String(log.message), createdOn: log.createdOn };
  const data = cloneJson(log.data);
  if (data !== undefined) out.data = data;
  return out;
}

function copyLog(log: RunLog): RunLog {
  const out: RunLog = { runId: log.runId, type: log.type, message: log.message, createdOn: log.createdOn };
  if (log.data !== undefined) out.data = cloneJson(log.data);
  return out;
}
