import { EntryHeap } from './entry-heap';
import { ReadyQueue } from './ready-queue';
import type { Row } from './row';

/** One target node's queues of a definition (see MemoryIndex). */
export class Bucket {
  /** pending, due at the last look, by id */
  readonly ready = new ReadyQueue();
  /** pending, not yet due at the last look, by dueAt */
  readonly delayed = new EntryHeap();
  /** running without a lease, by dueAt */
  readonly parked = new EntryHeap();
}

/** A definition's counters, ids, queues and leased runs (see MemoryIndex). */
export class DefState {
  pending = 0;
  running = 0;
  /** ids of this definition's runs, ascending (removed runs' ids may linger: see MemoryIndex.remove) */
  ids: string[] = [];
  /** ids in `ids` whose run was removed */
  deadIds = 0;
  /** target node id (`undefined` = any node) -> queues */
  private readonly buckets = new Map<string | undefined, Bucket>();
  readonly leased = new Set<Row>();
  /** a lower bound of the leased runs' expiries: no lease can have expired before it */
  leaseMin = Infinity;

  constructor(readonly id: string) {}

  bucket(target: string | undefined): Bucket {
    let bucket = this.buckets.get(target);
    if (!bucket) {
      bucket = new Bucket();
      this.buckets.set(target, bucket);
    }
    return bucket;
  }

  /** the buckets a node may take from: untargeted and targeted at it */
  bucketsFor(nodeId: string): Bucket[] {
    const out: Bucket[] = [];
    const any = this.buckets.get(undefined);
    if (any) out.push(any);
    const mine = this.buckets.get(nodeId);
    if (mine) out.push(mine);
    return out;
  }
}
