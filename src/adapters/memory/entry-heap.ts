import type { Entry } from './entry';

/** Binary min-heap of entries by `at` (a due time), then id. */
export class EntryHeap {
  private readonly items: Entry[] = [];

  private less(a: Entry, b: Entry): boolean {
    if (a.at !== b.at) return a.at < b.at;
    return a.row.id < b.row.id;
  }

  push(entry: Entry): void {
    const items = this.items;
    let i = items.length;
    items.push(entry);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(entry, items[parent])) break;
      items[i] = items[parent];
      i = parent;
    }
    items[i] = entry;
  }

  /** the smallest live entry (dead ones on top are dropped) */
  peek(): Entry | undefined {
    while (this.items.length > 0 && !this.items[0].live()) this.pop();
    return this.items[0];
  }

  pop(): Entry | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last !== undefined) {
      const n = items.length;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.less(items[r], items[l]) ? r : l;
        if (!this.less(items[c], last)) break;
        items[i] = items[c];
        i = c;
      }
      items[i] = last;
    }
    return top;
  }
}
