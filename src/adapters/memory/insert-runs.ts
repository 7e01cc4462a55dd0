import { isFinished } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type { MemoryIndex } from './memory-index';
import { toRecord } from './row';
import { insertSorted } from './sorted-ids';

/** insertRuns of the memory storage (see RunStorage.insertRuns) */
export function insertRuns(index: MemoryIndex, runs: RunRecord[]): Array<{ run: RunRecord; created: boolean }> {
  // normalise everything first: a value JSON cannot hold fails the call before anything is stored
  const rows = runs.map((r) => index.toRow(r));
  const hint = Math.max(index.clockHint, Date.now());
  const out: Array<{ run: RunRecord; created: boolean }> = [];
  for (const row of rows) {
    // ids are time-ordered: one above every id stored cannot be a retry of an insert
    const same = index.allIds.length > 0 && row.id <= index.allIds[index.allIds.length - 1] ? index.runs.get(row.id) : undefined;
    if (same) {
      out.push({ run: toRecord(same), created: false });
      continue;
    }
    const unfinished = !isFinished(row.status);
    if (row.key !== undefined && unfinished) {
      const existing = index.keys.get(row.definitionId)?.get(row.key);
      if (existing && !isFinished(existing.status)) {
        out.push({ run: toRecord(existing), created: false });
        continue;
      }
    }
    index.runs.set(row.id, row);
    insertSorted(index.allIds, row.id);
    insertSorted(row.def.ids, row.id);
    if (row.parentId !== undefined) {
      const siblings = index.childrenOf.get(row.parentId);
      if (siblings) siblings.add(row.id);
      else index.childrenOf.set(row.parentId, new Set([row.id]));
    }
    if (row.key !== undefined && unfinished) index.keyMap(row.definitionId).set(row.key, row);
    if (row.status === 'pending') {
      row.def.pending++;
      index.enqueuePending(row, hint);
    } else if (row.status === 'running') {
      row.def.running++;
      if (row.leaseToken === undefined) index.park(row);
      else index.addLease(row);
    }
    out.push({ run: toRecord(row), created: true });
    if (!unfinished) index.retain(row);
  }
  return out;
}
