import type { RunRecord } from '../../ports/run-record';
import type { RunStorage } from '../../ports/storage';
import type { TransactionSession } from '../../ports/transaction';

/** what the watch does once it knows whether runs were committed */
export interface TransactionWatchHost {
  storage: RunStorage;
  /** the runs are stored (committed): announce them; `woken` = the distribution already woke the nodes at commit */
  committed(runs: RunRecord[], woken: boolean): void;
  /** the runs will never exist (rolled back): settle what waits for them */
  rolledBack(runIds: string[]): void;
  warn(message: string, error: unknown): void;
}

interface Watched {
  session: TransactionSession;
  runs: RunRecord[];
  woken: boolean;
  /** epoch ms of the next look */
  nextAt: number;
  /** ms between looks, doubled each time up to MAX_DELAY_MS */
  delay: number;
  /** the transaction ended but some runs were not read back: looked at once more before they count as rolled back */
  recheck: boolean;
}

/** the first look: the host usually commits right after trigger() resolves */
const FIRST_DELAY_MS = 2;
const MAX_DELAY_MS = 1000;
/**
 * A committed transaction's rows can be invisible to another session for a moment (PostgreSQL
 * marks the commit in its log before the transaction leaves the running set): a run not read back
 * is looked for again after this long before it counts as rolled back.
 */
const RECHECK_MS = 50;
/** transactions watched at once; beyond it the oldest is dropped (its run is still claimed by the poll) */
const MAX_WATCHED = 10_000;

/**
 * Runs stored through host transactions whose end this node has not seen yet. Until then the
 * run is not announced (no `submitted` event, no local wake-up) and `wait()` on it waits rather
 * than answering TaskNotFoundError. One timer serves every watched transaction, looking sooner
 * after a trigger (2 ms) and less often the longer a transaction stays open (up to every second).
 *
 * Once a session reports its transaction ended, the runs are read back through the storage:
 * those found were committed, the others rolled back (a rolled-back savepoint of a committed
 * transaction included) after one more look. A run claimed here, or whose end is announced
 * here, was committed without asking (`seen`): it is announced then, before `started`/`done`.
 */
export class TransactionWatch {
  private readonly watched = new Map<string, Watched>();
  private timer?: NodeJS.Timeout;
  private timerAt = Infinity;
  private paused = true;
  private looking = false;

  constructor(private readonly host: TransactionWatchHost) {}

  /** the transaction of these runs is still open, as far as this node knows */
  has(runId: string): boolean {
    return this.watched.has(runId);
  }

  get size(): number {
    return this.watched.size;
  }

  watch(session: TransactionSession, runs: RunRecord[], woken: boolean): void {
    if (runs.length === 0) return;
    const entry: Watched = { session, runs, woken, nextAt: Date.now() + FIRST_DELAY_MS, delay: FIRST_DELAY_MS, recheck: false };
    for (const run of runs) this.watched.set(run.id, entry);
    while (this.watched.size > MAX_WATCHED) {
      const oldest = this.watched.keys().next().value as string;
      this.watched.delete(oldest);
    }
    this.schedule(entry.nextAt);
  }

  /**
   * The run was seen stored without asking (claimed here, or ended on some node): its transaction
   * committed. Announced now, so that `submitted` comes before `started` and the end events.
   */
  seen(runId: string): void {
    const entry = this.watched.get(runId);
    if (!entry) return;
    this.watched.delete(runId);
    const run = entry.runs.find((r) => r.id === runId);
    if (run) this.host.committed([run], entry.woken);
  }

  /** storage is open: looking may go on */
  resume(): void {
    this.paused = false;
    this.scheduleNext();
  }

  /** storage is closing: no look until resume() (the watched transactions are kept) */
  pause(): void {
    this.paused = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = Infinity;
  }

  private schedule(at: number): void {
    if (this.paused || this.looking || at >= this.timerAt) return;
    this.clearTimer();
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        void this.look();
      },
      Math.max(0, at - Date.now()),
    );
    this.timer.unref(); // a watched transaction alone does not keep the process alive
  }

  private scheduleNext(): void {
    let next = Infinity;
    for (const entry of this.entries()) next = Math.min(next, entry.nextAt);
    if (next < Infinity) this.schedule(next);
  }

  private entries(): Set<Watched> {
    return new Set(this.watched.values());
  }

  /** one look at every watched transaction that is due */
  private async look(): Promise<void> {
    if (this.paused) return;
    this.looking = true;
    try {
      const now = Date.now();
      const due = [...this.entries()].filter((e) => e.nextAt <= now);
      await Promise.all(due.map((entry) => this.lookAt(entry)));
    } finally {
      this.looking = false;
      this.scheduleNext();
    }
  }

  private async lookAt(entry: Watched): Promise<void> {
    try {
      if (!entry.recheck && (await entry.session.outcome()) === 'open') {
        this.later(entry, Math.min(entry.delay * 2, MAX_DELAY_MS));
        return;
      }
      const ids = entry.runs.filter((r) => this.watched.get(r.id) === entry).map((r) => r.id);
      if (ids.length === 0) return;
      const stored = new Set((await this.host.storage.getRuns(ids)).map((r) => r.id));
      const committed = entry.runs.filter((r) => stored.has(r.id));
      const missing = ids.filter((id) => !stored.has(id));
      for (const run of committed) this.watched.delete(run.id);
      if (committed.length > 0) this.host.committed(committed, entry.woken);
      if (missing.length === 0) return;
      if (!entry.recheck) {
        entry.recheck = true;
        this.later(entry, RECHECK_MS);
        return;
      }
      for (const id of missing) this.watched.delete(id);
      this.host.rolledBack(missing);
    } catch (err) {
      // storage unreachable for a moment: look again later
      this.host.warn('tasklane: could not learn how a host transaction ended; retrying', err);
      this.later(entry, MAX_DELAY_MS);
    }
  }

  private later(entry: Watched, delay: number): void {
    entry.delay = delay;
    entry.nextAt = Date.now() + delay;
  }
}
