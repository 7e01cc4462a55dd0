/** What a gate answers at once: admitted (counted), full, or unsure until the store is read. */
export type AdmitVerdict = 'admitted' | 'full' | 'unsure';

/**
 * The pending count of one definition with a `maxBacklog`, kept by this node without a storage
 * round trip per trigger: the count read from the store (`base`), plus the runs this node
 * admitted that the read cannot have seen. An admitted run is `unsent` until the grouped insert
 * hands it to storage, `inFlight` until the insert answers, then `stored`: counted on top of
 * `base` until a read called after that answer has answered (its snapshot holds the run).
 *
 * So the count never misses a run this node triggered, whatever the store's timing. It may count
 * a run twice: one in flight when a read was called may be in that read's snapshot too, and a run
 * that left `pending` here (claimed, aborted) is still in the count. `mayBeHigh` says so, and a
 * trigger that would be refused then waits for a read first. Where an insert answers in the same
 * turn as it is made (memory, SQLite) no read is ever called with one in flight: the count is
 * exact. What other processes do is seen at the next read only (see BacklogLimiter).
 *
 * Pure bookkeeping: no I/O, no clock of its own; BacklogLimiter drives it.
 */
export class BacklogGate {
  /** pending runs of the definition in the last read's answer */
  private base = 0;
  /** admitted runs stored (their insert answered) after the last answered read was called */
  private stored = 0;
  /** admitted runs stored before the read in flight was called: in its snapshot */
  private storedBeforeRead = 0;
  /** admitted runs handed to storage whose insert has not answered */
  private inFlight = 0;
  /** admitted runs not yet handed to storage */
  private unsent = 0;
  /** runs were in flight when the read in flight was called: its answer may count them twice */
  private inFlightAtRead = false;
  /** `mayBeHigh` as it was when the read in flight was called (restored if the read fails) */
  private highBeforeRead = false;
  /** the read in flight was called with this gate in it */
  private inRead = false;
  /** the count may be above the truth (runs left `pending` here, or were counted twice) */
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
    return this.base + this.storedBeforeRead + this.stored + this.inFlight + this.unsent;
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
    this.inFlight++;
  }

  /** the insert of a run handed to storage answered: `stored`, or not (its key matched a stored run) */
  answered(stored: boolean): void {
    if (this.inFlight > 0) this.inFlight--;
    if (stored) this.stored++;
  }

  /** the insert failed: the run may be stored all the same (an answer lost), so it stays counted until a read */
  insertFailed(): void {
    this.answered(true);
    this.mayBeHigh = true;
  }

  /** a read of the store is called now */
  readCalled(): void {
    this.inRead = true;
    this.storedBeforeRead = this.stored;
    this.stored = 0;
    this.inFlightAtRead = this.inFlight > 0;
    this.highBeforeRead = this.mayBeHigh;
    this.mayBeHigh = false;
  }

  /** the read's answer: `pending` runs; `trusted` false when runs came back to pending meanwhile */
  readAnswered(pending: number, calledAt: number, trusted: boolean): void {
    if (!this.inRead) return; // made while the read was under way: it waits for the next one
    this.inRead = false;
    this.base = pending;
    this.storedBeforeRead = 0;
    this.readAt = calledAt;
    this.known = trusted;
    // a run in flight at the call may be in the snapshot and is still counted: refusals read again
    if (this.inFlightAtRead) this.mayBeHigh = true;
  }

  readFailed(): void {
    if (!this.inRead) return;
    this.inRead = false;
    this.stored += this.storedBeforeRead;
    this.storedBeforeRead = 0;
    this.mayBeHigh = this.mayBeHigh || this.highBeforeRead;
  }
}
