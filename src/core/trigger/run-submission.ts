import type { Logger } from 'winston';
import { TasklaneError } from '../../api/errors';
import type { Distribution, RunnableNotice } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { RunStorage } from '../../ports/storage';
import { errorFields } from '../../util/safe-string';
import type { EventBus } from '../observation/event-bus';
import type { ObserverSet } from '../observation/engine-observer';
import type { StatsTracker } from '../observation/stats-tracker';
import { toPublicRun } from '../public-run';
import { ItemFailure } from '../runtime/batcher';
import type { StorageGate } from '../runtime/storage-gate';
import type { BacklogLimiter } from './backlog-limiter';

export type Inserted = { run: RunRecord; created: boolean };

/** what the submission of new runs reports to and hands them on to */
export interface RunSubmissionDeps {
  storage: RunStorage;
  gate: StorageGate;
  backlog: BacklogLimiter;
  stats: StatsTracker;
  bus: EventBus;
  observers: ObserverSet;
  distribution: Distribution;
  logger: Logger;
}

/**
 * The last step of a trigger: the grouped insert of the runs triggered in one tick, then their
 * announcement on this node (`submitted`, stats, observers) and the notice to the distribution.
 */
export class RunSubmission {
  constructor(private readonly deps: RunSubmissionDeps) {}

  /**
   * The grouped insert of the triggers of one tick. A batch is stored (or refused) as a whole: when
   * the store refuses it for its data rather than for a fault of its own (every record was checked
   * before, so this is a defence, not a path), each record is tried alone, so that one caller's
   * record never fails the triggers of other callers it was batched with.
   */
  async insert(runs: RunRecord[]): Promise<Array<Inserted | ItemFailure>> {
    if (!this.deps.gate.isReady) await this.deps.gate.whenOpen();
    // A pool may claim a new run before this node has read the answer of its own insert (on
    // PostgreSQL the claim's answer can arrive on its connection before the COMMIT's on another):
    // the run's other events wait for its `submitted`, so that listeners see them in order.
    const held = this.deps.bus.holdUntilSubmitted(runs);
    try {
      return await this.insertRuns(runs);
    } finally {
      if (held) this.deps.bus.releaseHeld(runs);
    }
  }

  private async insertRuns(runs: RunRecord[]): Promise<Array<Inserted | ItemFailure>> {
    try {
      return await this.insertBatch(runs);
    } catch (err) {
      if (runs.length === 1 || isStoreFault(err)) throw err;
      this.deps.logger.warn(`tasklane: a batch of ${runs.length} new runs was refused; storing them one by one`, errorFields(err));
      return Promise.all(
        runs.map((run) =>
          this.insertBatch([run]).then(
            (results) => results[0],
            (error: unknown) => new ItemFailure(error),
          ),
        ),
      );
    }
  }

  private async insertBatch(runs: RunRecord[]): Promise<Inserted[]> {
    if (this.deps.backlog.active) return this.insertCounted(runs);
    const results = await this.deps.storage.insertRuns(runs);
    this.submitted(results);
    return results;
  }

  /** the grouped insert when some definition has a maxBacklog: its count follows the insert */
  private async insertCounted(runs: RunRecord[]): Promise<Inserted[]> {
    const { backlog } = this.deps;
    backlog.sending(runs);
    let results: Inserted[];
    try {
      results = await this.deps.storage.insertRuns(runs);
    } catch (err) {
      backlog.insertFailed(runs);
      throw err;
    }
    backlog.answered(runs, results);
    this.submitted(results);
    return results;
  }

  /** new runs are stored: announced here, and handed to the distribution in one notice list */
  private submitted(results: Inserted[]): void {
    const { observers, stats, bus } = this.deps;
    const notices: RunnableNotice[] = [];
    const announce = bus.has('submitted');
    for (const { run, created } of results) {
      if (!created) continue;
      if (observers.on) observers.triggered(run);
      stats.pendingAdded(run.definitionId);
      if (announce) bus.emit('submitted', { run: toPublicRun(run) });
      notices.push(run); // a record is a notice: id, definitionId, dueAt
    }
    if (notices.length > 0) this.deps.distribution.runnable(notices);
  }

  /**
   * runs stored through a host's transaction are seen committed: announced here like other new
   * runs, and handed to the distribution unless it woke the nodes at commit already (`woken`)
   */
  committedInTransaction(runs: RunRecord[], woken: boolean): void {
    const { observers, stats, bus } = this.deps;
    if (!woken) return this.submitted(runs.map((run) => ({ run, created: true })));
    if (observers.on) for (const run of runs) observers.triggered(run);
    for (const run of runs) stats.pendingAdded(run.definitionId);
    if (!bus.has('submitted')) return;
    for (const run of runs) bus.emit('submitted', { run: toPublicRun(run) });
  }
}

/** the store itself failed (unreachable, closed), as opposed to refusing what it was given */
function isStoreFault(err: unknown): boolean {
  return TasklaneError.is(err) && (err.code === 'STORAGE_ERROR' || err.code === 'ENGINE_STATE');
}
