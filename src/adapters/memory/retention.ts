import type { DeleteRunResult } from '../../ports/storage';
import { isFinished } from '../../api/types';
import type { MemoryIndex } from './memory-index';
import type { Row } from './row';
import { toRecord } from './row';
import { cmp } from './sorted-ids';

// Deleting finished runs on request (the bound on finished runs kept is MemoryIndex.retain).

export function deleteFinishedBefore(index: MemoryIndex, before: string, limit: number): number {
  const max = Math.floor(limit);
  if (!(max > 0)) return 0;
  // a maintenance call: one pass over the runs is acceptable here (claims never do this)
  const old: Row[] = [];
  for (const row of index.runs.values()) {
    if (isFinished(row.status) && row.finishedOn !== undefined && row.finishedOn < before) old.push(row);
  }
  old.sort((a, b) => cmp(a.finishedOn as string, b.finishedOn as string) || cmp(a.id, b.id));
  const doomed = old.slice(0, max);
  for (const row of doomed) index.remove(row);
  return doomed.length;
}

export function deleteRun(index: MemoryIndex, id: string): DeleteRunResult {
  const root = index.runs.get(id);
  if (!root) return { kind: 'not_found' };
  // the run and its descendants, breadth first; nothing is removed unless all have ended
  const doomed: Row[] = [root];
  for (let i = 0; i < doomed.length; i++) {
    const row = doomed[i];
    if (!isFinished(row.status)) return { kind: 'unfinished', run: toRecord(row) };
    for (const childId of index.childrenOf.get(row.id) ?? []) {
      const child = index.runs.get(childId);
      if (child) doomed.push(child);
    }
  }
  for (const row of doomed) index.remove(row);
  return { kind: 'deleted', ids: doomed.map((r) => r.id) };
}
