import type { Row } from './row';

/** A first-in first-out queue of rows: an array read from a moving head, compacted as it goes. */
export class RowFifo {
  private items: Array<Row | undefined> = [];
  private head = 0;

  push(row: Row): void {
    this.items.push(row);
  }

  shift(): Row | undefined {
    if (this.head >= this.items.length) return undefined;
    const row = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return row;
  }
}
