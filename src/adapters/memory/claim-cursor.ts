import { isFinished } from '../../api/types';
import type { ClaimRequest, ClaimSlot } from '../../ports/storage';
import type { Bucket, DefState } from './def-state';
import { Entry } from './entry';
import type { EntryHeap } from './entry-heap';
import type { MemoryIndex } from './memory-index';
import type { ReadyQueue } from './ready-queue';
import type { Row } from './row';
import { cmp } from './sorted-ids';

export type Found = { row: Row; kind: 'expired' | 'parked' | 'pending' };

/**
 * Yields one definition's claimable runs, one at a time, in this order: expired leases (b), by id;
 * due parked runs (a), by dueAt; due pending runs (c), by id, within the concurrency headroom.
 * Every yielded run is taken by the caller.
 */
export class ClaimCursor {
  taken = 0;
  readonly max: number;
  private phase = 0;
  private expired: Row[] = [];
  private expiredAt = 0;
  private readonly buckets: Bucket[];
  private headroom: number;

  constructor(
    private readonly store: MemoryIndex,
    private readonly def: DefState,
    slot: ClaimSlot,
    private readonly request: ClaimRequest,
    private readonly disabled: boolean,
  ) {
    this.max = Math.floor(slot.max);
    this.buckets = def.bucketsFor(request.nodeId);
    this.headroom = slot.concurrency === undefined ? Infinity : Math.max(0, Math.floor(slot.concurrency) - def.running);
  }

  next(): Found | undefined {
    if (this.taken >= this.max) return undefined;
    const found = this.find();
    if (found) this.taken++;
    return found;
  }

  private find(): Found | undefined {
    const now = this.request.now;
    if (this.phase === 0) {
      this.phase = 1;
      const def = this.def;
      if (now > def.leaseMin) {
        let min = Infinity;
        for (const row of def.leased) {
          const expires = row.leaseExpiresAt ?? 0;
          if (expires < now) this.expired.push(row);
          if (expires < min) min = expires;
        }
        def.leaseMin = min;
        this.expired.sort((a, b) => cmp(a.id, b.id));
      }
    }
    if (this.phase === 1) {
      if (this.expiredAt < this.expired.length) return { row: this.expired[this.expiredAt++], kind: 'expired' };
      this.phase = 2;
    }
    if (this.phase === 2) {
      const entry = this.popMin('parked', now);
      if (entry) return { row: entry.row, kind: 'parked' };
      this.phase = 3;
      if (this.disabled || this.headroom <= 0) return undefined;
      // everything of `delayed` that is due now moves to `ready`, so id order is exact among due runs
      for (const bucket of this.buckets) {
        for (let e = bucket.delayed.peek(); e && e.at <= now; e = bucket.delayed.peek()) {
          bucket.delayed.pop();
          bucket.ready.push(e);
        }
      }
    }
    if (this.phase === 3) {
      if (this.headroom <= 0) return undefined;
      for (;;) {
        const entry = this.popMin('ready', Infinity);
        if (!entry) return undefined;
        const row = entry.row;
        if (row.dueAt > now) {
          // the clock went backwards since it was queued: back to waiting
          this.def.bucket(row.targetNodeId).delayed.push(new Entry(row, entry.ver, row.dueAt));
          continue;
        }
        if (row.after !== undefined) {
          const after = this.store.lookup(row.after);
          if (after && !isFinished(after.status)) {
            this.store.block(entry, row.after);
            continue;
          }
        }
        this.headroom--;
        return { row, kind: 'pending' };
      }
    }
    return undefined;
  }

  /** pops the smallest live entry across this node's buckets, if its `at` is <= `until` */
  private popMin(which: 'parked' | 'ready', until: number): Entry | undefined {
    let best: EntryHeap | ReadyQueue | undefined;
    let bestEntry: Entry | undefined;
    for (const bucket of this.buckets) {
      const heap = bucket[which];
      const top = heap.peek();
      if (!top || top.at > until) continue;
      const better = !bestEntry || (which === 'parked' && top.at !== bestEntry.at ? top.at < bestEntry.at : top.row.id < bestEntry.row.id);
      if (better) {
        best = heap;
        bestEntry = top;
      }
    }
    best?.pop();
    return bestEntry;
  }
}
