import type { FinishedNotice } from '../../../ports/distribution';
import { isConnectionError } from '../pg-support';
import type { DistributionContext } from './context';
import { abortBatches, finishBatches, MAX_NOTIFIES_PER_STATEMENT, notifySql, wakeBatches, type OutgoingBatch } from './notices';

/**
 * Outgoing notices (wake-ups, aborts, finishes, and the event relay's), queued and sent once per
 * event-loop tick as NOTIFYs, as many per statement as allowed: a burst of triggers or endings
 * costs one statement, not one per run.
 */
export class Outbox {
  private wake = new Map<string, Set<number>>();
  private aborts: string[] = [];
  private finishes: FinishedNotice[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private flushWaiters: Array<() => void> = [];
  /** one promise for everything queued until the next flush (not one per notice) */
  private nextFlush: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();

  constructor(
    private readonly ctx: DistributionContext,
    /** adds the event relay's batches (see EventRelay.takeBatches) */
    private readonly moreBatches: (node: string, header: number, batches: OutgoingBatch[]) => void,
  ) {}

  /** a run of `definitionId` runnable at `due` (0: now) */
  addWake(definitionId: string, due: number): void {
    let times = this.wake.get(definitionId);
    if (!times) {
      times = new Set();
      this.wake.set(definitionId, times);
    }
    times.add(due);
  }

  get hasWake(): boolean {
    return this.wake.size > 0;
  }

  addAbort(runId: string): void {
    this.aborts.push(runId);
  }

  addFinished(notice: FinishedNotice): void {
    this.finishes.push(notice);
  }

  scheduleFlush(): Promise<void> {
    this.nextFlush ??= new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    const done = this.nextFlush;
    if (!this.flushScheduled) {
      this.flushScheduled = setImmediate(() => {
        this.flushScheduled = undefined;
        void this.flushNow();
      });
    }
    return done;
  }

  /** Sends everything queued as NOTIFYs; resolves when it was sent or failed. */
  flushNow(): Promise<void> {
    if (this.flushScheduled) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    this.nextFlush = undefined;
    const batches = this.takeBatches();
    if (batches.length === 0 || !this.ctx.connected) {
      for (const w of waiters) w();
      return Promise.resolve();
    }
    const flight: Promise<void> = this.send(batches).finally(() => {
      this.inflight.delete(flight);
      for (const w of waiters) w();
    });
    this.inflight.add(flight);
    return flight;
  }

  /** resolves when the flushes under way are done */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inflight]);
  }

  /** drops what is queued and releases whoever waits for it (teardown) */
  clear(): void {
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    this.wake = new Map();
    this.aborts = [];
    this.finishes = [];
    for (const w of this.flushWaiters.splice(0)) w();
    this.nextFlush = undefined;
  }

  private takeBatches(): OutgoingBatch[] {
    const node = this.ctx.host?.node.nodeId ?? '';
    const channels = this.ctx.channels;
    const header = JSON.stringify(node).length + 16;
    const batches: OutgoingBatch[] = [];
    if (this.wake.size > 0) {
      const wake = this.wake;
      this.wake = new Map();
      batches.push(...wakeBatches(channels.wake, node, header, wake));
    }
    if (this.aborts.length > 0) {
      const ids = this.aborts;
      this.aborts = [];
      batches.push(...abortBatches(channels.abort, node, header, ids));
    }
    if (this.finishes.length > 0) {
      const finished = this.finishes;
      this.finishes = [];
      batches.push(...finishBatches(channels.finish, node, header, finished));
    }
    this.moreBatches(node, header, batches);
    return batches;
  }

  private async send(batches: OutgoingBatch[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        // one pg_notify($n, $n+1) per batch: no array to escape the payloads into
        for (let i = 0; i < batches.length; i += MAX_NOTIFIES_PER_STATEMENT) {
          const part = batches.slice(i, i + MAX_NOTIFIES_PER_STATEMENT);
          await this.ctx.q(
            notifySql(part.length),
            part.flatMap((b) => [b.channel, b.payload]),
          );
        }
        return;
      } catch (err) {
        const original = err instanceof Error && 'original' in err ? (err as { original: unknown }).original : err;
        if (attempt === 0 && isConnectionError(original) && this.ctx.connected) continue; // duplicates are tolerated
        this.ctx.report('NOTIFY failed (other nodes learn through the safety poll and lease renewal)', original);
        return;
      }
    }
  }
}
