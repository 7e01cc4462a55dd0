import { isFinished } from '../../api/types';
import type { AbortRunsRequest, AbortRunsResult } from '../../ports/storage';
import type { MemoryIndex } from './memory-index';
import { toRecord } from './row';

// A restart of a definition: its cut-off (runs created before it end aborted when claimed), its
// locals cleared, and its runs from before the cut-off aborted.

export function restartDefinition(index: MemoryIndex, definitionId: string, cutoff: string): { localsCleared: number } {
  const previous = index.cutoffs.get(definitionId);
  if (previous === undefined || cutoff > previous) index.cutoffs.set(definitionId, cutoff);
  let localsCleared = 0;
  for (const entry of index.locals.get(definitionId)?.values() ?? []) {
    if (entry.value === undefined) continue;
    entry.value = undefined;
    entry.version++;
    localsCleared++;
  }
  return { localsCleared };
}

export function abortDefinitionRuns(index: MemoryIndex, request: AbortRunsRequest): AbortRunsResult {
  const out: AbortRunsResult = { aborted: [], requested: [] };
  const def = index.defs.get(request.definitionId);
  const limit = Math.floor(request.limit);
  if (!def || !(limit > 0) || def.pending + def.running === 0) return out;
  // an operator's call: one pass over the definition's ids (claims never do this)
  for (const id of def.ids) {
    if (id >= request.before || out.aborted.length + out.requested.length >= limit) break;
    const row = index.runs.get(id);
    if (!row || row.def !== def || isFinished(row.status)) continue;
    if (row.status === 'running' && row.leaseToken !== undefined) {
      if (row.abortRequested) continue;
      row.abortRequested = true;
      out.requested.push(toRecord(row));
      continue;
    }
    row.error = { message: String(request.message), code: 'ABORTED' };
    index.finish(row, 'aborted', request.now);
    out.aborted.push(toRecord(row));
  }
  return out;
}
