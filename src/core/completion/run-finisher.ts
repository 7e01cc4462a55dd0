import type { Logger } from 'winston';
import { isFinished, type RunError } from '../../api/types';
import type { Distribution, FinishedNotice } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import { errorFields } from '../../util/safe-string';
import type { RegisteredDefinition } from '../definitions/definition-registry';
import type { EventBus } from '../observation/event-bus';
import type { ObserverSet } from '../observation/engine-observer';
import type { StatsTracker } from '../observation/stats-tracker';
import { toPublicRun } from '../public-run';
import type { Batcher } from '../runtime/batcher';
import type { PoolWake } from '../runtime/wake';
import type { LogLine } from '../runtime/write-batches';
import type { TransactionWatch } from '../trigger/transaction-watch';
import type { RunWaiters } from './run-waiters';

export type FinishKind = 'done' | 'error' | 'abort' | 'maxIterations';

/** what the end of a run is reported to */
export interface RunFinisherDeps {
  logger: Logger;
  /** the run log's batcher: a run's lines are written before its end is announced */
  logs: Batcher<LogLine, undefined>;
  /** the grouped read of ended runs (notices of runs ended elsewhere) */
  reads: Batcher<string, RunRecord | null | undefined>;
  stats: StatsTracker;
  observers: ObserverSet;
  bus: EventBus;
  waiters: RunWaiters;
  transactions: TransactionWatch;
  distribution: Distribution;
  wake: PoolWake;
}

/**
 * The end of a run, after storage recorded it: hooks first, then stats, then the announcement
 * (waiters, events, other nodes); and the ends other nodes announce, told here.
 */
export class RunFinisher {
  /** runs this node announced itself; their echo from the distribution is ignored */
  private readonly announcedHere = new Map<string, number>();
  /** runs whose end this node is finalizing (waiting for their log lines or a hook): not announced yet */
  private readonly ending = new Set<string>();

  constructor(private readonly deps: RunFinisherDeps) {}

  /**
   * A hook that throws is logged and changes nothing. Synchronous (undefined) when there is no
   * hook to call and no log line to wait for, which is the common case; a promise otherwise.
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
        this.deps.logger.error(`tasklane: ${hookName} of "${run.definitionId}" could not be resolved; ignored`, { runId: run.id, ...errorFields(err) });
      }
    }
    const hook = def && !def.fault && task ? task[hookName] : undefined;
    if (typeof hook !== 'function' && this.deps.logs.idle) return void this.announceEnd(run);
    this.ending.add(run.id);
    return this.finalizeAsync(run, kind, hookName, task, hook);
  }

  /**
   * Whether this node stored the run's end and has not announced it yet (its hook or its log lines
   * are awaited): the waiter sweep, which reads ends from storage, leaves it to this announcement,
   * so that wait() never answers before the hook ran.
   */
  isEnding(runId: string): boolean {
    return this.ending.has(runId);
  }

  private async finalizeAsync(run: RunRecord, kind: FinishKind, hookName: string, task: unknown, hook: unknown): Promise<void> {
    try {
      if (!this.deps.logs.idle) await this.deps.logs.drain(); // its log lines are readable once its end is announced
      if (typeof hook === 'function') {
        try {
          const publicRun = toPublicRun(run);
          const params = kind === 'error' ? { run: publicRun, error: run.error as RunError } : { run: publicRun };
          await (hook as (p: unknown) => unknown).call(task, params);
        } catch (err) {
          this.deps.logger.error(`tasklane: ${hookName} of "${run.definitionId}" threw; ignored`, { runId: run.id, ...errorFields(err) });
        }
      }
    } finally {
      this.ending.delete(run.id);
    }
    this.announceEnd(run);
  }

  /** stats, then waiters, events and other nodes */
  private announceEnd(run: RunRecord): void {
    const { deps } = this;
    if (run.status === 'failed') deps.stats.failed(run.definitionId, run.error);
    if (deps.observers.on) deps.observers.ended(run);
    this.announce(run);
    if (deps.distribution.capabilities.multiNode) {
      // other nodes may wait for it; its echo back here is ignored
      this.announcedHere.set(run.id, Date.now());
      if (this.announcedHere.size > 10_000) this.sweepAnnounced();
      deps.distribution
        .publishFinished([{ id: run.id, definitionId: run.definitionId, status: run.status, run: toPublicRun(run) }])
        .catch((err: unknown) => deps.logger.warn('tasklane: could not publish a finished run', { runId: run.id, ...errorFields(err) }));
    }
    deps.wake.pump();
  }

  /** resolves waiters and emits the end event on this node */
  announce(run: RunRecord): void {
    const { deps } = this;
    if (deps.transactions.size > 0) deps.transactions.seen(run.id); // ended: its transaction committed
    deps.waiters.resolve(run);
    const event = run.status === 'success' ? 'done' : run.status === 'failed' ? 'failed' : run.status === 'aborted' ? 'aborted' : undefined;
    if (event && deps.bus.has(event)) deps.bus.emit(event, { run: toPublicRun(run) });
  }

  /** whether a run ending elsewhere can matter here: something waits for runs, or listens to their end */
  wantsFinished(): boolean {
    const { bus } = this.deps;
    return this.deps.waiters.size > 0 || bus.has('done') || bus.has('failed') || bus.has('aborted');
  }

  /** a run ended on some node: announce it here unless this node already did */
  async finishedElsewhere(notices: FinishedNotice[]): Promise<void> {
    const { deps } = this;
    const wanted: string[] = [];
    for (const n of notices) {
      if (this.announcedHere.delete(n.id)) continue;
      const event = n.status === 'success' ? 'done' : n.status === 'failed' ? 'failed' : 'aborted';
      if (!deps.waiters.has(n.id) && !deps.bus.has(event)) continue;
      // carried with the notice: no read (the internal fields do not matter to an ended run)
      if (n.run && n.run.id === n.id && isFinished(n.run.status))
        this.announce({ ...n.run, dueAt: 0, abortRequested: false, recoveries: 0, logCount: 0, iterationBase: 0 });
      else wanted.push(n.id);
    }
    deps.wake.pump();
    if (wanted.length === 0) return;
    // through the read batcher: the notices of one tick cost one query, not one each
    const runs = await Promise.all(wanted.map((id) => deps.reads.add(id)));
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
