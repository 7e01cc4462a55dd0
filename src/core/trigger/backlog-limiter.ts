import { errorFields } from '../../util/safe-string';
import type { Logger } from 'winston';
import { QueueFullError } from '../../api/errors';
import type { RunRecord } from '../../ports/run-record';
import { BacklogGate, type AdmitVerdict } from './backlog-gate';

/**
 * A count older than this (ms) may miss what other processes triggered: near the limit it is
 * read again before a trigger is decided, and while admitting it is refreshed in the background.
 */
export const BACKLOG_REFRESH_MS = 200;
/**
 * Reads of the store for the backlog are at least this far apart (ms). A trigger that needs a
 * fresh count waits for the next read, at most this long plus the read: a flood of triggers at
 * a full backlog costs one `countPending()` per interval, not one per trigger.
 */
export const BACKLOG_READ_GAP_MS = 20;

export interface BacklogStore {
  /** resolves once storage is open; undefined when it already is */
  ready(): Promise<void> | undefined;
  /** pending runs per definition id (RunStorage.countPending) */
  countPending(): Promise<Map<string, number>>;
}

/**
 * `maxBacklog` for the definitions that set it: one BacklogGate each, and the reads of the store
 * they share (one `countPending()` answers every gate).
 *
 * The trigger path of a definition without `maxBacklog` never reaches this class. For one with
 * it, a trigger is decided synchronously while the count is known and has room (the common
 * case: no promise, no read); it waits for a read when the count was never read, is stale near
 * the limit, or says full although runs left pending since. Concurrent triggers waiting for one
 * read are decided one after the other on its answer, each counted as it is admitted, so a tick's
 * triggers cannot all pass on one count.
 *
 * The engine reports what moves the count: runs handed to storage and stored (`sending`,
 * `answered`, `insertFailed`), runs that left pending here (`left`: claims, aborts), runs given
 * back to pending (`returning`, `returned`: a stop, or runs claimed ahead and released), storage
 * closed (`invalidate`).
 *
 * Precision: a run this node admitted is counted until a read called after its insert answered
 * has answered, so this node's own runs are never missed: in one process the backlog never
 * passes the limit, on any store (BacklogGate). On a store shared by several processes
 * (PostgreSQL, a shared SQLite file), other nodes' triggers are seen at the next read, at most
 * BACKLOG_REFRESH_MS old when a trigger near the limit is decided: there the limit may be passed
 * by what the other nodes triggered in that time, and each node's count (and its refusals) by
 * what they started.
 */
export class BacklogLimiter {
  private readonly gates = new Map<string, BacklogGate>();
  /** bumped whenever counts cannot be trusted any more (runs came back to pending, storage closed) */
  private epoch = 0;
  /** releases of runs back to pending under way */
  private releasing = 0;
  private inFlight?: Promise<void>;
  /** the next read, not yet called: triggers arriving now wait for it */
  private next?: Promise<void>;
  private lastCallAt = -Infinity;

  constructor(
    private readonly store: BacklogStore,
    private readonly logger: Logger,
  ) {}

  /** some definition has a gate: the engine reports counts only then */
  get active(): boolean {
    return this.gates.size > 0;
  }

  /** the gate of a definition with a maxBacklog */
  gate(definitionId: string, maxBacklog: number): BacklogGate {
    let gate = this.gates.get(definitionId);
    if (!gate) this.gates.set(definitionId, (gate = new BacklogGate(definitionId, maxBacklog)));
    return gate;
  }

  /** decides at once when the count allows it; `unsure` means: call admit() */
  tryAdmit(gate: BacklogGate): AdmitVerdict {
    const stale = performance.now() - gate.readAt > BACKLOG_REFRESH_MS;
    const verdict = gate.tryAdmit(stale);
    if (stale && verdict === 'admitted') this.refresh();
    return verdict;
  }

  /**
   * Resolves once the run is counted; rejects with QueueFullError when the backlog is full, or
   * with the store's error when it could not be read. Decided on the first read called after the
   * trigger arrived, unless runs were being given back to pending meanwhile (then on a later one).
   */
  async admit(gate: BacklogGate): Promise<void> {
    let verdict = this.tryAdmit(gate);
    while (verdict === 'unsure') {
      await this.nextRead();
      verdict = gate.decide();
    }
    if (verdict === 'full') throw new QueueFullError(gate.definitionId, gate.limit);
  }

  /** the grouped insert hands `runs` to storage */
  sending(runs: RunRecord[]): void {
    for (const run of runs) this.gates.get(run.definitionId)?.sending();
  }

  /** the insert of `runs` answered: `results[i].created` whether runs[i] was stored */
  answered(runs: RunRecord[], results: Array<{ created: boolean }>): void {
    for (let i = 0; i < runs.length; i++) this.gates.get(runs[i].definitionId)?.answered(results[i]?.created === true);
  }

  /** the insert of `runs` failed */
  insertFailed(runs: RunRecord[]): void {
    for (const run of runs) this.gates.get(run.definitionId)?.insertFailed();
  }

  /** a run left pending on this node (claimed, aborted): its definition's count may be high */
  left(definitionId: string): void {
    const gate = this.gates.get(definitionId);
    if (gate) gate.mayBeHigh = true;
  }

  /** runs are being given back to pending: no count is trusted until a read after they are */
  returning(): void {
    this.releasing++;
    this.invalidate();
  }

  returned(): void {
    this.releasing--;
    this.invalidate();
  }

  /** every count must be read again before it decides a trigger (e.g. storage was closed) */
  invalidate(): void {
    this.epoch++;
    for (const gate of this.gates.values()) gate.known = false;
  }

  /** a read soon, in the background (a stale count that still has room) */
  private refresh(): void {
    if (this.next || this.inFlight) return;
    this.nextRead().catch((err: unknown) =>
      this.logger.warn('tasklane: reading the pending counts for maxBacklog failed; retrying at the next trigger', errorFields(err)),
    );
  }

  /** a read called after now: after the one in flight, and BACKLOG_READ_GAP_MS after the last call */
  private nextRead(): Promise<void> {
    if (!this.next) {
      const next = this.scheduleRead();
      this.next = next;
      // a read that failed before it was called (storage would not open) must not stay the next one
      next
        .catch(() => undefined)
        .finally(() => {
          if (this.next === next) this.next = undefined;
        });
    }
    return this.next;
  }

  private async scheduleRead(): Promise<void> {
    if (this.inFlight) await this.inFlight.catch(() => undefined);
    const wait = this.lastCallAt + BACKLOG_READ_GAP_MS - performance.now();
    await new Promise<void>((resolve) => (wait > 0 ? setTimeout(resolve, wait) : setImmediate(resolve)));
    const ready = this.store.ready();
    if (ready) await ready;
    this.next = undefined; // from here on, a trigger that needs a read waits for a later one
    const read = this.read();
    this.inFlight = read;
    try {
      await read;
    } finally {
      this.inFlight = undefined;
    }
  }

  private async read(): Promise<void> {
    // the snapshot: the gates' counters move in the same synchronous step as the storage call
    const epoch = this.epoch;
    const calledAt = performance.now();
    this.lastCallAt = calledAt;
    for (const gate of this.gates.values()) gate.readCalled();
    let counts: Map<string, number>;
    try {
      counts = await this.store.countPending();
    } catch (err) {
      for (const gate of this.gates.values()) gate.readFailed();
      throw err;
    }
    const trusted = this.releasing === 0 && epoch === this.epoch;
    for (const gate of this.gates.values()) gate.readAnswered(counts.get(gate.definitionId) ?? 0, calledAt, trusted);
  }
}
