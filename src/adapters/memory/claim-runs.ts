import type { RunRecord } from '../../ports/run-record';
import type { ClaimRequest } from '../../ports/storage';
import { newToken } from '../../util/ids';
import { ClaimCursor } from './claim-cursor';
import type { MemoryIndex } from './memory-index';
import { toRecord } from './row';

/**
 * claimRuns of the memory storage. Each definition's runs come from its ClaimCursor (expired
 * leases first, then due parked runs, then due pending runs), taken round-robin across the
 * definitions of the request.
 */
export function claimRuns(index: MemoryIndex, request: ClaimRequest): RunRecord[] {
  const { now, nodeId, leaseMs } = request;
  if (now > index.clockHint) index.clockHint = now;
  const limit = Math.floor(request.limit);
  if (!(limit > 0)) return [];
  const cursors: ClaimCursor[] = [];
  const seen = new Set<string>();
  for (const slot of request.slots) {
    if (seen.has(slot.definitionId) || !(slot.max >= 1)) continue;
    seen.add(slot.definitionId);
    const def = index.defs.get(slot.definitionId);
    if (def) cursors.push(new ClaimCursor(index, def, slot, request, index.disabled.has(def.id)));
  }
  const out: RunRecord[] = [];
  const tokenBase = newToken();
  const startedOn = new Date(now).toISOString();
  const leaseExpiresAt = now + leaseMs;
  // round-robin: one run from each definition in turn
  let active = cursors;
  while (active.length > 0 && out.length < limit) {
    const still: ClaimCursor[] = [];
    for (const cursor of active) {
      if (out.length >= limit) break;
      const found = cursor.next();
      if (!found) continue;
      const row = found.row;
      if (found.kind === 'pending') {
        index.setStatus(row, 'running');
        row.attempt++;
      } else if (found.kind === 'expired') {
        row.recoveries++;
        row.attempt++;
      }
      row.iterations++;
      // a run created before a restart of its definition (triggered while the restart ran) ends aborted
      if (index.cutoffs.size > 0 && !row.abortRequested && row.id < (index.cutoffs.get(row.definitionId) ?? '')) row.abortRequested = true;
      if (row.startedOn === undefined) row.startedOn = startedOn;
      row.nodeId = nodeId;
      row.leaseToken = tokenBase + out.length.toString(36);
      row.leaseExpiresAt = leaseExpiresAt;
      index.addLease(row);
      const record = toRecord(row);
      if (found.kind === 'expired') record.recovered = true;
      out.push(record);
      if (cursor.taken < cursor.max) still.push(cursor);
    }
    active = still;
  }
  return out;
}
