import type { Logger } from 'winston';
import { InvalidStateError, TaskNotFoundError, TasklaneError } from '../../api/errors';
import { errorFields, errorStack, safeString } from '../../util/safe-string';
import { logData } from './log-data';
import { isFinished, type RunError, type RunLog } from '../../api/types';
import type { Clock } from '../../ports/clock';
import type { ClockSample, Distribution, FinishedNotice, RunnableNotice } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { IterationUpdate, RunStorage, UpdateResult } from '../../ports/storage';
import type { Scheduler } from '../../ports/scheduler';
import { BacklogLimiter } from '../trigger/backlog-limiter';
import { Batcher, ItemFailure } from './batcher';
import { DEFAULT_MAX_LOGS_PER_RUN, type DefinitionRegistry, type RegisteredDefinition } from '../definitions/definition-registry';
import { EventBus } from '../observation/event-bus';
import { EventRelay } from '../observation/event-relay';
import type { ObserverSet } from '../observation/engine-observer';
import type { ResolvedOptions } from '../options';
import { toPublicRun } from '../public-run';
import { RunWaiters } from '../completion/run-waiters';
import { StatsTracker } from '../observation/stats-tracker';
import { StoreClock } from './store-clock';
import { TransactionWatch } from '../trigger/transaction-watch';

const WAITER_SWEEP_MS = 2000;

export type FinishKind = 'done' | 'error' | 'abort' | 'maxIterations';

/** A run log line on its way to storage, with its definition's cap of lines per run. */
interface LogLine {
  line: RunLog;
  cap: number;
}

/** A function handed to runInline, kept on the node that called it. */
export type InlineFunction = (input: unknown, signal: AbortSignal) => unknown;

/** a clock this far off the store's is worth a warning */
const CLOCK_SKEW_WARN_MS = 60_000;

/**
 * The state shared by TaskService, TaskEngine and the worker pool of one node: the adapters, the
 * registry, the batchers that group storage writes, and the announcement of finished runs.
 */
export class Runtime {
  readonly bus: EventBus;
  readonly waiters = new RunWaiters();
  readonly stats = new StatsTracker();
  readonly inlineFunctions = new Map<string, InlineFunction>();
  /** maxBacklog: the pending counts of the definitions that set one */
  readonly backlog: BacklogLimiter;
  /** runs this node announced itself; their echo from the distribution is ignored */
  private readonly announcedHere = new Map<string, number>();
  private storageReady?: Promise<void>;
  private waiterSweep?: NodeJS.Timeout;
  private disabledCache?: { at: number; ids: Set<string> };
  /**
   * Set by TaskService: aborts the unfinished children of a run that ended aborted here (those a
   * parent on another node triggered after abort() listed its children, before it learned of it).
   */
  abortChildrenOf: (parentId: string, message: string) => Promise<void> = async () => undefined;
  /**
   * Set by TaskService: aborts a run as `abort()` does (a run that went back to pending for a
   * retry while its abort was already requested ends aborted at once, with onAbort)
   */
  abortRun: (id: string, message: string) => Promise<void> = async () => undefined;
  /** set by the worker pool: asks it to claim again soon */
  pump: () => void = () => undefined;
  /** runs stored through host transactions that this node has not seen end yet */
  readonly transactions: TransactionWatch;
  /** metrics and the like (see observeEngine); undefined while nothing observes: free on the hot path */
  observer?: ObserverSet;
  /** live run events between the nodes of a cluster (management subscriptions) */
  readonly relay: EventRelay = new EventRelay(this);

  readonly inserts: Batcher<RunRecord, { run: RunRecord; created: boolean }>;
  readonly updates: Batcher<IterationUpdate, UpdateResult>;
  readonly logs: Batcher<LogLine, undefined>;
  /**
   * Looks of concurrent wait() calls (and notices of runs ended elsewhere), grouped into one
   * read: each id resolves with its run once it has ended, null when no such run is stored,
   * undefined while it has not ended.
   */
  readonly reads: Batcher<string, RunRecord | null | undefined>;

  constructor(
    readonly options: ResolvedOptions,
    readonly storage: RunStorage,
    readonly distribution: Distribution,
    readonly scheduler: Scheduler,
    readonly logger: Logger,
    readonly clock: Clock,
    readonly registry: DefinitionRegistry,
  ) {
    this.bus = new EventBus(logger);
    this.backlog = new BacklogLimiter({ ready: () => this.whenOpen(), countPending: () => this.storage.countPending() }, logger);
    const reportSinkError = (err: unknown) => logger.error('tasklane: a callback of a batched storage call threw; ignored', { error: errorStack(err) });
    this.inserts = new Batcher((runs) => this.insert(runs), 500, reportSinkError);
    this.updates = new Batcher(async (updates) => {
      if (!this.isReady) await this.whenOpen();
      return this.storage.updateIterations(updates);
    }, 500, reportSinkError);
    this.reads = new Batcher<string, RunRecord | null | undefined>(async (ids) => {
      if (!this.isReady) await this.whenOpen();
      const { ended, missing } = await this.storage.getEndedRuns([...new Set(ids)]);
      const found = new Map<string, RunRecord | null>();
      for (const run of ended) found.set(run.id, run);
      for (const id of missing) found.set(id, null);
      return ids.map((id) => found.get(id));
    }, 500, reportSinkError);
    this.logs = new Batcher<LogLine, undefined>(async (lines) => {
      if (!this.isReady) await this.whenOpen();
      // lines of definitions with different caps are written separately, each under its own cap
      const byCap = new Map<number, RunLog[]>();
      for (const { line, cap } of lines) {
        let list = byCap.get(cap);
        if (!list) byCap.set(cap, (list = []));
        list.push(line);
      }
      for (const [cap, list] of byCap) await this.storage.appendLogs(list, cap);
      return lines.map(() => undefined);
    }, 1000, reportSinkError);
    this.transactions = new TransactionWatch({
      storage,
      committed: (runs, woken) => {
        this.committedInTransaction(runs, woken);
        // a wait() begun before the commit was seen made no read: the run may have ended since
        for (const run of runs) {
          if (!this.waiters.has(run.id)) continue;
          this.reads.add(run.id).then(
            (ended) => {
              if (ended) this.waiters.resolve(ended);
            },
            () => undefined, // the waiter sweep reads it again
          );
        }
      },
      rolledBack: (ids) => {
        for (const id of ids) this.waiters.fail(id, new TaskNotFoundError(id));
      },
      warn: (message, err) => logger.warn(message, errorFields(err)),
    });
  }

  /**
   * The engine's time: the shared store's when a distribution reads its clock (see StoreClock),
   * else the node's clock. Due times, leases and schedule ticks are all in this time.
   */
  now(): number {
    return this.storeClock.now() ?? this.clock.now();
  }

  /** the store's time, from the distribution's readings */
  readonly storeClock = new StoreClock();
  private skewWarned = false;

  /**
   * A reading of the store's clock: from now on the engine keeps its time in the store's. A node
   * clock further off than CLOCK_SKEW_WARN_MS gets one warning per node (code CLOCK_SKEW).
   */
  clockSample(sample: ClockSample): void {
    this.storeClock.add(sample);
    const store = this.storeClock.now();
    if (store === undefined) return;
    const offsetMs = store - this.clock.now();
    if (Math.abs(offsetMs) > CLOCK_SKEW_WARN_MS && !this.skewWarned) {
      this.skewWarned = true;
      const s = (Math.abs(offsetMs) / 1000).toFixed(1);
      this.logger.warn(
        `tasklane: clock skew: this node's clock is ${s} s ${offsetMs < 0 ? 'ahead of' : 'behind'} the shared store's; tasklane keeps due times, leases and schedules in the store's time, but fix the clock (NTP)`,
        { code: 'CLOCK_SKEW', offsetMs: Math.round(offsetMs), nodeId: this.options.nodeId },
      );
    }
  }

  private lastIso = { ms: NaN, text: '' };
  /** the engine's time as ISO 8601; runs ending in the same millisecond share one string */
  nowIso(): string {
    return this.isoOf(this.now());
  }

  /** epoch ms as ISO 8601, the last one remembered (runs made in one millisecond share it) */
  isoOf(ms: number): string {
    if (ms !== this.lastIso.ms) this.lastIso = { ms, text: new Date(ms).toISOString() };
    return this.lastIso.text;
  }

  /**
   * The grouped insert of the triggers of one tick. A batch is stored (or refused) as a whole: when
   * the store refuses it for its data rather than for a fault of its own (every record was checked
   * before, so this is a defence, not a path), each record is tried alone, so that one caller's
   * record never fails the triggers of other callers it was batched with.
   */
  private async insert(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean } | ItemFailure>> {
    if (!this.isReady) await this.whenOpen();
    try {
      return await this.insertBatch(runs);
    } catch (err) {
      if (runs.length === 1 || isStoreFault(err)) throw err;
      this.logger.warn(`tasklane: a batch of ${runs.length} new runs was refused; storing them one by one`, errorFields(err));
      return Promise.all(runs.map((run) => this.insertBatch([run]).then((results) => results[0], (error: unknown) => new ItemFailure(error))));
    }
  }

  private async insertBatch(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>> {
    if (this.backlog.active) return this.insertCounted(runs);
    const results = await this.storage.insertRuns(runs);
    this.submitted(results);
    return results;
  }

  /** the grouped insert when some definition has a maxBacklog: its count follows the insert */
  private async insertCounted(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>> {
    this.backlog.sending(runs);
    let results: Array<{ run: RunRecord; created: boolean }>;
    try {
      results = await this.storage.insertRuns(runs);
    } catch (err) {
      this.backlog.insertFailed(runs);
      throw err;
    }
    this.backlog.answered(runs, results);
    this.submitted(results);
    return results;
  }

  /** new runs are stored: announced here, and handed to the distribution in one notice list */
  private submitted(results: Array<{ run: RunRecord; created: boolean }>): void {
    const notices: RunnableNotice[] = [];
    const announce = this.bus.has('submitted');
    for (const { run, created } of results) {
      if (!created) continue;
      this.observer?.triggered(run);
      this.stats.pendingAdded(run.definitionId);
      if (announce) this.bus.emit('submitted', { run: toPublicRun(run) });
      notices.push(run); // a record is a notice: id, definitionId, dueAt
    }
    if (notices.length > 0) this.distribution.runnable(notices);
  }

  /**
   * runs stored through a host's transaction are seen committed: announced here like other new
   * runs, and handed to the distribution unless it woke the nodes at commit already (`woken`)
   */
  private committedInTransaction(runs: RunRecord[], woken: boolean): void {
    if (!woken) return this.submitted(runs.map((run) => ({ run, created: true })));
    if (this.observer) for (const run of runs) this.observer.triggered(run);
    for (const run of runs) this.stats.pendingAdded(run.definitionId);
    if (!this.bus.has('submitted')) return;
    for (const run of runs) this.bus.emit('submitted', { run: toPublicRun(run) });
  }

  /** storage was initialised: callers on the hot path skip awaiting ready() */
  isReady = false;

  /** stop() closed the storage and no caller has opened it since */
  private closedByStop = false;

  /**
   * Initialises storage once, and opens it again after a stop. For callers (TaskService calls,
   * trigger() works before start(), engine.start()) only: the engine's own background work uses
   * {@link whenOpen}, which never reopens a store a stop closed.
   */
  ready(): Promise<void> {
    this.closedByStop = false;
    if (!this.storageReady) {
      this.storageReady = this.storage.init().then(
        () => {
          this.isReady = true;
          this.transactions.resume();
          if (this.waiters.size > 0) this.watchWaiters(); // waits begun while it was closed
        },
        (err: unknown) => {
          this.storageReady = undefined;
          throw err;
        },
      );
    }
    return this.storageReady;
  }

  /**
   * For the engine's own work (batched writes, write retries, the waiter sweep, backlog reads):
   * undefined when storage is open, the opening when it is under way. After a stop closed it,
   * a rejection (InvalidStateError) instead of opening it again: a retry or timer left over from
   * before the stop must not reopen the store, nor re-create a schema dropped meanwhile. Before
   * the first start, it opens storage as ready() does (trigger() works before start()).
   */
  whenOpen(): Promise<void> | undefined {
    if (this.isReady) return undefined;
    if (this.storageReady) return this.storageReady;
    if (this.closedByStop) return Promise.reject(new InvalidStateError('tasklane: the engine was stopped and its storage closed; nothing more is written until it starts again or a caller uses it'));
    return this.ready();
  }

  /** storage is closed after a stop (see whenOpen) */
  get stopped(): boolean {
    return this.closedByStop;
  }

  async closeStorage(): Promise<void> {
    this.closedByStop = true;
    if (this.waiterSweep) clearInterval(this.waiterSweep); // resumed when storage opens again
    this.waiterSweep = undefined;
    if (!this.storageReady) return;
    this.transactions.pause();
    await this.storageReady.catch(() => undefined);
    this.storageReady = undefined;
    this.isReady = false;
    this.backlog.invalidate(); // other processes may use the store while this one has it closed
    await this.storage.close();
  }

  async disabledDefinitions(maxAgeMs = 250): Promise<Set<string>> {
    const now = Date.now();
    if (this.disabledCache && now - this.disabledCache.at < maxAgeMs) return this.disabledCache.ids;
    await this.ready();
    const ids = await this.storage.getDisabledDefinitions();
    this.disabledCache = { at: now, ids };
    return ids;
  }

  invalidateDisabled(): void {
    this.disabledCache = undefined;
  }

  /** persists a run log line (unless the definition disables logs) and writes it to winston */
  log(def: RegisteredDefinition | undefined, run: RunRecord, type: RunLog['type'], message: string, data?: unknown): void {
    // never throws back into the task, whatever it logs: the message is read as text once, the
    // data copied once (JSON-safe), and that copy is all winston and storage ever see
    const text = safeString(message, 10_000);
    const safe = logData(data);
    const meta: Record<string, unknown> = { runId: run.id, definitionId: run.definitionId };
    if (safe !== undefined) meta.data = safe;
    try {
      this.logger.log(type, text, meta);
    } catch {
      // a host logger that throws is not the task's fault
    }
    if (def?.disableLogs) return;
    const line: RunLog = { runId: run.id, type, message: text, createdOn: this.nowIso() };
    if (safe !== undefined) line.data = safe;
    this.logs.add({ line, cap: def?.maxLogsPerRun ?? DEFAULT_MAX_LOGS_PER_RUN }).catch((err: unknown) => this.logger.warn('tasklane: could not persist a run log line', { runId: run.id, ...errorFields(err) }));
  }

  /**
   * The end of a run, after storage recorded it: hooks first, then stats, then the announcement
   * (waiters, events, other nodes). A hook that throws is logged and changes nothing.
   * Synchronous (undefined) when there is no hook to call and no log line to wait for, which is
   * the common case; a promise otherwise.
   */
  finalize(def: RegisteredDefinition | undefined, run: RunRecord, kind: FinishKind, instance?: { [hook: string]: unknown }): Promise<void> | undefined {
    const hookName = kind === 'done' ? 'onDone' : kind === 'error' ? 'onError' : kind === 'abort' ? 'onAbort' : 'onMaxIterations';
    let task = instance;
    if (def && !def.fault && !task) {
      // the run ended before run() was called (aborted while pending, refused): a hook may still be
      // an instance field, so an instance is resolved to look
      try {
        task = def.create() as unknown as { [hook: string]: unknown };
      } catch (err) {
        this.logger.error(`tasklane: ${hookName} of "${run.definitionId}" could not be resolved; ignored`, { runId: run.id, ...errorFields(err) });
      }
    }
    const hook = def && !def.fault && task ? task[hookName] : undefined;
    if (typeof hook !== 'function' && this.logs.idle) return void this.announceEnd(run);
    return this.finalizeAsync(run, kind, hookName, task, hook);
  }

  private async finalizeAsync(run: RunRecord, kind: FinishKind, hookName: string, task: unknown, hook: unknown): Promise<void> {
    if (!this.logs.idle) await this.logs.drain(); // its log lines are readable once its end is announced
    if (typeof hook === 'function') {
      try {
        const publicRun = toPublicRun(run);
        const params = kind === 'error' ? { run: publicRun, error: run.error as RunError } : { run: publicRun };
        await (hook as (p: unknown) => unknown).call(task, params);
      } catch (err) {
        this.logger.error(`tasklane: ${hookName} of "${run.definitionId}" threw; ignored`, { runId: run.id, ...errorFields(err) });
      }
    }
    this.announceEnd(run);
  }

  /** stats, then waiters, events and other nodes */
  private announceEnd(run: RunRecord): void {
    if (run.status === 'failed') this.stats.failed(run.definitionId, run.error);
    this.observer?.ended(run);
    this.announce(run);
    if (this.distribution.capabilities.multiNode) {
      // other nodes may wait for it; its echo back here is ignored
      this.announcedHere.set(run.id, Date.now());
      if (this.announcedHere.size > 10_000) this.sweepAnnounced();
      this.distribution.publishFinished([{ id: run.id, definitionId: run.definitionId, status: run.status, run: toPublicRun(run) }]).catch((err: unknown) =>
        this.logger.warn('tasklane: could not publish a finished run', { runId: run.id, ...errorFields(err) }),
      );
    }
    this.pump();
  }

  /**
   * A safety net for wait(): notices of runs ending elsewhere can be lost (a NOTIFY that failed,
   * a process sharing the file with no distribution between them). While anything is waited for,
   * one timer reads the waited runs in a batch and resolves those that ended. Not needed when
   * every run ends in this process (memory storage).
   */
  watchWaiters(): void {
    if (this.waiterSweep || !this.storage.capabilities.shared) return;
    const every = this.distribution.capabilities.multiNode ? WAITER_SWEEP_MS : this.options.pollMs;
    this.waiterSweep = setInterval(() => void this.sweepWaiters(), every);
    this.waiterSweep.unref(); // a wait() alone does not keep the process alive
  }

  private async sweepWaiters(): Promise<void> {
    if (!this.isReady) return;
    if (this.waiters.size === 0) {
      clearInterval(this.waiterSweep);
      this.waiterSweep = undefined;
      return;
    }
    try {
      const { ended } = await this.storage.getEndedRuns(this.waiters.ids(1000));
      for (const run of ended) this.waiters.resolve(run);
    } catch (err) {
      this.logger.warn('tasklane: reading waited runs failed; retrying', errorFields(err));
    }
  }

  /** resolves waiters and emits the end event on this node */
  announce(run: RunRecord): void {
    if (this.transactions.size > 0) this.transactions.seen(run.id); // ended: its transaction committed
    this.waiters.resolve(run);
    const event = run.status === 'success' ? 'done' : run.status === 'failed' ? 'failed' : run.status === 'aborted' ? 'aborted' : undefined;
    if (event && this.bus.has(event)) this.bus.emit(event, { run: toPublicRun(run) });
  }

  /** whether a run ending elsewhere can matter here: something waits for runs, or listens to their end */
  wantsFinished(): boolean {
    return this.waiters.size > 0 || this.bus.has('done') || this.bus.has('failed') || this.bus.has('aborted');
  }

  /** a run ended on some node: announce it here unless this node already did */
  async finishedElsewhere(notices: FinishedNotice[]): Promise<void> {
    const wanted: string[] = [];
    for (const n of notices) {
      if (this.announcedHere.delete(n.id)) continue;
      const event = n.status === 'success' ? 'done' : n.status === 'failed' ? 'failed' : 'aborted';
      if (!this.waiters.has(n.id) && !this.bus.has(event)) continue;
      // carried with the notice: no read (the internal fields do not matter to an ended run)
      if (n.run && n.run.id === n.id && isFinished(n.run.status)) this.announce({ ...n.run, dueAt: 0, abortRequested: false, recoveries: 0, logCount: 0, iterationBase: 0 });
      else wanted.push(n.id);
    }
    this.pump();
    if (wanted.length === 0) return;
    // through the read batcher: the notices of one tick cost one query, not one each
    const runs = await Promise.all(wanted.map((id) => this.reads.add(id)));
    for (const run of runs) if (run) this.announce(run);
  }

  private sweepAnnounced(): void {
    const cutoff = Date.now() - 60_000;
    for (const [id, at] of this.announcedHere) {
      if (at < cutoff) this.announcedHere.delete(id);
      else break;
    }
  }
}

/** the store itself failed (unreachable, closed), as opposed to refusing what it was given */
function isStoreFault(err: unknown): boolean {
  return TasklaneError.is(err) && (err.code === 'STORAGE_ERROR' || err.code === 'ENGINE_STATE');
}
