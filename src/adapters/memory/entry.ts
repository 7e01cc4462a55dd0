import type { Row } from './row';

/** A place of a row in a heap or a blocked list; live while the row has not moved since. */
export class Entry {
  constructor(
    readonly row: Row,
    readonly ver: number,
    readonly at: number,
  ) {}
  live(): boolean {
    return this.ver === this.row.ver;
  }
}
