/** What a gate answers at once: admitted (counted), full, or unsure until the store is read. */
export type AdmitVerdict = 'admitted' | 'full' | 'unsure';

/**
 * The pending count of one definition with a `maxBacklog`, kept by this node without a storage
 * round trip per trigger: the count read from the store (`base`), plus the runs this node
 * admitted since that read was called. An admitted run is `unsent` until the grouped insert
 * hands it to storage, then `sent`. The read is a snapshot taken when `countPending()` is
 * called, so the runs sent before that call are in it, and those sent after are added.
 *
 * The count is therefore never below the truth for runs this node triggered; it is above the
 * truth once runs left `pending` here (claimed, aborted): `mayBeHigh` says so, and a trigger
 * that would be refused reads the store again first. What other processes do is seen at the
 * next read only (see BacklogLimiter).
 *
 * Pure bookkeeping: no I/O, no clock of its own; BacklogLimiter drives it.
 */
export class BacklogGate {
  /** pending runs of the definition in the last read's answer */
  private base = 0;
  /** admitted runs handed to storage after the last answered read was called */
  private sent = 0;
  /** admitted runs handed to storage before the read in flight was called: in its snapshot */
  private sentBeforeRead = 0;
  /** admitted runs not yet handed to storage */
  private unsent = 0;
  /** `mayBeHigh` as it was when the read in flight was called (restored if the read fails) */
  private highBeforeRead = false;
  /** the read in flight was called with this gate in it */
  private inRead = false;
  /** a run of the definition left `pending` on this node since the last read was called */
  mayBeHigh = false;
  /** the count rests on a read that can be trusted (false: never read, or runs came back since) */
  known = false;
  /** when the read that gave `base` was called (performance.now()) */
  readAt = -Infinity;
  /** how close to the limit a stale count is not trusted to admit (a tenth of the limit, at least 1) */
  readonly margin: number;

  constructor(
    readonly definitionId: string,
    readonly limit: number,
  ) {
    this.margin = Math.max(1, Math.ceil(limit / 10));
  }

  /** the pending runs as this node knows them */
  get count(): number {
    return this.base + this.sentBeforeRead + this.sent + this.unsent;
  }

  /**
   * Admits one run when the count has room. `stale`: the read is old (other nodes may have
   * triggered since), so a count within `margin` of the limit, or at it, is not decided here.
   */
  tryAdmit(stale: boolean): AdmitVerdict {
    if (!this.known) return 'unsure';
    const count = this.count;
    if (count < this.limit) {
      if (stale && this.limit - count <= this.margin) return 'unsure';
      this.unsent++;
      return 'admitted';
    }
    return this.mayBeHigh || stale ? 'unsure' : 'full';
  }

  /**
   * After a read called while the trigger waited: the answer as of that read (a run that left
   * pending since is not waited for again), unless the read could not be trusted.
   */
  decide(): AdmitVerdict {
    if (!this.known) return 'unsure';
    if (this.count >= this.limit) return 'full';
    this.unsent++;
    return 'admitted';
  }

  /** an admitted trigger was refused later (onBeforeTrigger, a missing parent...): uncounted */
  cancel(): void {
    if (this.unsent > 0) this.unsent--;
  }

  /** the grouped insert hands one admitted run to storage */
  sending(): void {
    if (this.unsent > 0) this.unsent--;
    this.sent++;
  }

  /**
   * A run handed to storage was not stored (the insert failed, or its key matched a run already
   * there). `readsSince`: reads called since it was handed over; `readInFlight`: the last of them
   * has not answered.
   */
  notStored(readsSince: number, readInFlight: boolean): void {
    if (readsSince === 0) {
      if (this.sent > 0) this.sent--;
    } else if (readsSince === 1 && readInFlight && this.inRead) {
      if (this.sentBeforeRead > 0) this.sentBeforeRead--;
    }
    // older: an answered read saw the store without it, so nothing counts it any more
  }

  /** a read of the store is called now */
  readCalled(): void {
    this.inRead = true;
    this.sentBeforeRead = this.sent;
    this.sent = 0;
    this.highBeforeRead = this.mayBeHigh;
    this.mayBeHigh = false;
  }

  /** the read's answer: `pending` runs; `trusted` false when runs came back to pending meanwhile */
  readAnswered(pending: number, calledAt: number, trusted: boolean): void {
    if (!this.inRead) return; // made while the read was under way: it waits for the next one
    this.inRead = false;
    this.base = pending;
    this.sentBeforeRead = 0;
    this.readAt = calledAt;
    this.known = trusted;
  }

  readFailed(): void {
    if (!this.inRead) return;
    this.inRead = false;
    this.sent += this.sentBeforeRead;
    this.sentBeforeRead = 0;
    this.mayBeHigh = this.mayBeHigh || this.highBeforeRead;
  }
}
