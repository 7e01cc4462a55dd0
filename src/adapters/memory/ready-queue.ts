import type { Entry } from './entry';

/**
 * Pending runs ordered by id: a sorted array read from a moving head. Ids are time-ordered and
 * nearly always arrive in increasing order, so a push is an append and a pop moves the head: O(1)
 * where a binary heap costs ~2 log n string comparisons and cache misses (it made claims 3x
 * slower at 50,000 queued runs). An out-of-order id (a delayed run coming due, a release) is a
 * binary search and a splice.
 */
export class ReadyQueue {
  private items: Array<Entry | undefined> = [];
  private head = 0;

  push(entry: Entry): void {
    const items = this.items;
    const n = items.length;
    const id = entry.row.id;
    const last = items[n - 1];
    if (n === this.head || (last !== undefined && last.row.id < id)) {
      items.push(entry);
      return;
    }
    let lo = this.head;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((items[mid] as Entry).row.id < id) lo = mid + 1;
      else hi = mid;
    }
    items.splice(lo, 0, entry);
  }

  /** the first live entry (dead ones at the head are dropped) */
  peek(): Entry | undefined {
    const items = this.items;
    while (this.head < items.length && !(items[this.head] as Entry).live()) items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > items.length) {
      this.items = items.slice(this.head);
      this.head = 0;
    }
    return this.items[this.head];
  }

  pop(): Entry | undefined {
    const entry = this.peek();
    if (entry) this.items[this.head++] = undefined;
    return entry;
  }
}
