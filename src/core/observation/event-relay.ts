import type { RunError, RunProgress, TaskRun } from '../../api/types';
import type { Distribution, EventInterest, RelayedEventType, RunEventNotice } from '../../ports/distribution';
import { toPublicRun } from '../public-run';
import type { Logger } from 'winston';
import type { RunStorage } from '../../ports/storage';
import type { EventBus } from './event-bus';

/** what the relay listens to, publishes through and reads */
export interface EventRelayDeps {
  distribution: Distribution;
  bus: EventBus;
  storage: RunStorage;
  logger: Logger;
}
import { errorFields } from '../../util/safe-string';

/** what a live view watches: one run, one definition, or (neither) every run */
export interface EventWatch {
  runId?: string;
  definitionId?: string;
}

/** a run event of another node, with its run */
export type RemoteRunEvent = RunEventNotice & { run: TaskRun };

/** ids listed in an interest before it is sent as `all` (keeps the notice small) */
const MAX_LISTED = 100;
/** progress of one run is published at most this often (the latest report wins) */
const PROGRESS_FLUSH_MS = 100;
/** events queued for publishing at most; past it the oldest are dropped (live views re-read runs) */
const MAX_QUEUED = 10_000;

interface Watcher {
  filter: EventWatch;
  listener: (event: RemoteRunEvent) => void;
}

interface Matcher {
  all: boolean;
  definitions: Set<string>;
  runs: Set<string>;
}

/**
 * Live run events across the nodes of a cluster (see Distribution.setEventInterest).
 *
 * Subscriber side: `watch()` registers what a live view wants; the merged interest of this node's
 * watchers goes to the distribution, which tells the other nodes. Their events come back through
 * `received()` and are handed to the matching watchers only (never to the event bus: a host's own
 * `TaskService.on()` listeners keep hearing this node's runs, and other nodes' ends, as before).
 *
 * Publisher side: while some other node is interested (`remoteInterest()`), the relay listens to
 * this node's event bus and publishes the matching events, progress coalesced per run every
 * PROGRESS_FLUSH_MS, the rest once per event-loop turn. While nobody is interested it has no
 * listener on the bus, and the engine pays nothing for it.
 */
export class EventRelay {
  private readonly watchers = new Set<Watcher>();
  private interest: Matcher | null = null;
  private readonly unlisten: Array<() => void> = [];
  private queue: RunEventNotice[] = [];
  private readonly progress = new Map<string, RunEventNotice>();
  private flushScheduled?: NodeJS.Immediate;
  private progressTimer?: NodeJS.Timeout;

  constructor(private readonly deps: EventRelayDeps) {}

  /** watchers on this node (diagnostics, tests) */
  get watching(): number {
    return this.watchers.size;
  }

  /** whether this node publishes its events now (some other node is interested) */
  get publishing(): boolean {
    return this.interest !== null;
  }

  /** hears the events of other nodes' runs that `filter` matches; returns the function that stops */
  watch(filter: EventWatch, listener: (event: RemoteRunEvent) => void): () => void {
    const watcher: Watcher = { filter: { ...filter }, listener };
    this.watchers.add(watcher);
    this.announceInterest();
    return () => {
      if (this.watchers.delete(watcher)) this.announceInterest();
    };
  }

  /** tells the distribution what this node's watchers want (again after the engine started) */
  announceInterest(): void {
    const set = this.deps.distribution.setEventInterest;
    if (!set || !this.deps.distribution.capabilities.multiNode) return;
    set.call(this.deps.distribution, this.watchers.size === 0 ? null : this.mergedInterest());
  }

  private mergedInterest(): EventInterest {
    const definitions = new Set<string>();
    const runs = new Set<string>();
    let all = false;
    for (const { filter } of this.watchers) {
      if (filter.runId !== undefined) runs.add(filter.runId);
      else if (filter.definitionId !== undefined) definitions.add(filter.definitionId);
      else all = true;
    }
    if (all || definitions.size > MAX_LISTED || runs.size > MAX_LISTED) return { all: true, definitions: [], runs: [] };
    return { all: false, definitions: [...definitions], runs: [...runs] };
  }

  // ------------------------------------------------------------------------------ publisher side

  /** the merged interest of the other nodes (null: none); starts or stops publishing */
  remoteInterest(interest: EventInterest | null): void {
    if (interest === null) {
      this.interest = null;
      this.stopPublishing();
      return;
    }
    this.interest = { all: interest.all === true, definitions: new Set(interest.definitions ?? []), runs: new Set(interest.runs ?? []) };
    if (this.unlisten.length > 0 || !this.deps.distribution.publishRunEvents) return;
    const bus = this.deps.bus;
    this.unlisten.push(
      bus.on('submitted', ({ run }) => this.published('submitted', run)),
      bus.on('started', ({ run }) => this.published('started', run)),
      bus.on('iteration', ({ run }) => this.published('iteration', run)),
      bus.on('progress', ({ run, progress }) => this.published('progress', run, progress)),
      bus.on('retrying', ({ run, error }) => this.published('retrying', run, undefined, error)),
    );
  }

  private matches(m: Matcher, runId: string, definitionId: string): boolean {
    return m.all || m.runs.has(runId) || m.definitions.has(definitionId);
  }

  private published(type: RelayedEventType, run: TaskRun, progress?: RunProgress, error?: RunError): void {
    const m = this.interest;
    if (!m || !this.matches(m, run.id, run.definitionId)) return;
    const notice: RunEventNotice = { type, runId: run.id, definitionId: run.definitionId, run };
    if (error) notice.error = error;
    if (type === 'progress') {
      notice.progress = progress;
      // coalesced: the latest report of each run, published by one timer for every run
      this.progress.set(run.id, notice);
      this.progressTimer ??= setTimeout(() => this.flushProgress(), PROGRESS_FLUSH_MS).unref();
      return;
    }
    // a run's pending progress goes first, so its events keep their order
    const pending = this.progress.get(run.id);
    if (pending) {
      this.progress.delete(run.id);
      this.enqueue(pending);
    }
    this.enqueue(notice);
  }

  private enqueue(notice: RunEventNotice): void {
    this.queue.push(notice);
    if (this.queue.length > MAX_QUEUED) this.queue.splice(0, this.queue.length - MAX_QUEUED);
    this.flushScheduled ??= setImmediate(() => this.flush());
  }

  private flushProgress(): void {
    this.progressTimer = undefined;
    for (const notice of this.progress.values()) this.queue.push(notice);
    this.progress.clear();
    this.flush();
  }

  private flush(): void {
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    const notices = this.queue;
    this.queue = [];
    if (notices.length === 0 || this.interest === null) return;
    try {
      this.deps.distribution.publishRunEvents?.(notices);
    } catch (err) {
      this.deps.logger.warn('tasklane: publishing run events failed; live views elsewhere miss them', errorFields(err));
    }
  }

  private stopPublishing(): void {
    for (const off of this.unlisten.splice(0)) off();
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    if (this.progressTimer) clearTimeout(this.progressTimer);
    this.flushScheduled = undefined;
    this.progressTimer = undefined;
    this.queue = [];
    this.progress.clear();
  }

  // ------------------------------------------------------------------------------- subscriber side

  /** events other nodes published for this node's watchers; runs left out of a notice are read */
  received(notices: RunEventNotice[]): void {
    if (this.watchers.size === 0) return;
    const missing: RunEventNotice[] = [];
    for (const n of notices) {
      if (n.run && n.run.id === n.runId) this.deliver(n as RemoteRunEvent);
      else missing.push(n);
    }
    if (missing.length === 0) return;
    this.deps.storage.getRuns([...new Set(missing.map((n) => n.runId))]).then(
      (records) => {
        const byId = new Map(records.map((r) => [r.id, r]));
        for (const n of missing) {
          const record = byId.get(n.runId);
          if (!record) continue;
          // the stored progress may be older than the event's: the event's wins
          const run: TaskRun = { ...toPublicRun(record), ...(n.progress ? { progress: n.progress } : {}) };
          this.deliver({ ...n, run });
        }
      },
      (err: unknown) => this.deps.logger.warn('tasklane: reading the runs of relayed events failed; they are dropped', errorFields(err)),
    );
  }

  /** to the matching watchers, after the run's `submitted` if this node has not announced it yet */
  private deliver(event: RemoteRunEvent): void {
    this.deps.bus.afterSubmitted(event.runId, () => this.deliverNow(event));
  }

  private deliverNow(event: RemoteRunEvent): void {
    for (const w of this.watchers) {
      const f = w.filter;
      if (f.runId !== undefined ? f.runId !== event.runId : f.definitionId !== undefined && f.definitionId !== event.definitionId) continue;
      try {
        w.listener(event);
      } catch (err) {
        this.deps.logger.error('tasklane: a live event watcher threw; ignored', errorFields(err));
      }
    }
  }

  /** the engine stopped: nothing is published any more (watchers stay, announced again at start) */
  stopped(): void {
    this.interest = null;
    this.stopPublishing();
  }
}
