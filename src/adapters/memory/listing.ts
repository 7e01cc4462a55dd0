import type { Page, RunStatus } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type { StorageListRunsQuery } from '../../ports/storage';
import { pageLimit } from '../shared/paging';
import type { MemoryIndex } from './memory-index';
import { toRecord } from './row';
import { cmp, lowerBound } from './sorted-ids';

/**
 * listRuns of the memory storage: newest first, from the sorted ids of the definition, of the
 * parent's children, or of every run (read from the end), skipping removed runs' lingering ids.
 * A tenant filter reads the runs one by one (there is no index on it here).
 */
export function listRuns(index: MemoryIndex, query: StorageListRunsQuery): Page<RunRecord> {
  const limit = pageLimit(query.limit);
  let ids: string[];
  if (query.definition !== undefined) {
    const def = index.defs.get(query.definition);
    if (!def) return { items: [] };
    ids = def.ids;
  } else if (query.parentId !== undefined) {
    const children = index.childrenOf.get(query.parentId);
    if (!children) return { items: [] };
    ids = [...children].sort(cmp);
  } else {
    ids = index.allIds;
  }
  const statuses = query.status === undefined ? undefined : new Set<RunStatus>(Array.isArray(query.status) ? query.status : [query.status]);
  const start = query.cursor === undefined ? ids.length - 1 : lowerBound(ids, query.cursor) - 1;
  const items: RunRecord[] = [];
  let cursor: string | undefined;
  for (let i = start; i >= 0; i--) {
    const row = index.runs.get(ids[i]);
    if (!row) continue;
    if (statuses && !statuses.has(row.status)) continue;
    if (query.parentId !== undefined && row.parentId !== query.parentId) continue;
    if (query.scheduled !== undefined && (row.scheduledFor !== undefined) !== query.scheduled) continue;
    if (query.tenant !== undefined && row.context?.tenant !== query.tenant) continue;
    if (items.length === limit) {
      cursor = items[items.length - 1].id;
      break;
    }
    items.push(toRecord(row));
  }
  return cursor === undefined ? { items } : { items, cursor };
}
