import { isTaskResponse, type ChildTriggerOptions } from '../../api/controller';
import type { ProgressUpdate, RunProgress, TaskRun } from '../../api/types';
import type { Logger } from 'winston';
import type { Distribution } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { RunStorage, UpdateResult } from '../../ports/storage';
import { errorFields, errorStack } from '../../util/safe-string';
import { abortError, DEFAULT_ABORT_MESSAGE } from '../abort/abort-message';
import { runError } from '../coerce-error';
import type { RunAborts } from '../abort/run-aborts';
import type { RunFinisher } from '../completion/run-finisher';
import type { EventBus } from '../observation/event-bus';
import type { ObserverSet } from '../observation/engine-observer';
import type { StatsTracker } from '../observation/stats-tracker';
import { endIterationSpan, inSpan, startIterationSpan, tracingOn, withTriggerParent } from '../observation/tracing';
import type { ResolvedOptions } from '../options';
import { toPublicRun } from '../public-run';
import type { EngineClock } from '../runtime/engine-clock';
import type { RunLog } from '../runtime/run-log';
import type { WriteBatches } from '../runtime/write-batches';
import type { BacklogLimiter } from '../trigger/backlog-limiter';
import type { TransactionWatch } from '../trigger/transaction-watch';
import type { ChildTrigger } from '../trigger/trigger-request';
import { toInputInstance } from '../validation/input-instance';
import { deepFreeze, freezeJsonData } from '../validation/json-data';
import type { Execution, Outcome, OutcomeWriter } from './execution';
import type { InlineFunctions } from './inline-functions';
import type { IterationOutcomes } from './iteration-outcomes';
import type { ControllerServices } from './controller-services';
import { RunController, type ControllerHost } from './run-controller';
import { RunParams } from './run-params';
import { runWithContext } from './run-context';

/** what executing iterations reads, writes and tells */
export interface RunExecutorDeps {
  options: ResolvedOptions;
  clock: EngineClock;
  storage: RunStorage;
  distribution: Distribution;
  batches: WriteBatches;
  outcomes: IterationOutcomes;
  finisher: RunFinisher;
  aborts: RunAborts;
  runLog: RunLog;
  bus: EventBus;
  stats: StatsTracker;
  observers: ObserverSet;
  backlog: BacklogLimiter;
  transactions: TransactionWatch;
  inline: InlineFunctions;
  logger: Logger;
  /** triggers a child run of a running one (see TriggerPipeline.child) */
  childTrigger: ChildTrigger;
}

const PROGRESS_WRITE_MS = 200;
const WRITE_ATTEMPTS = 8;

/**
 * Runs one iteration of a claimed run: builds its controller, calls run(), maps the answer to a
 * state change written under the iteration's lease, then finalises (hooks, stats, announcement)
 * or parks the run for its next iteration.
 */
export class RunExecutor implements ControllerHost, OutcomeWriter {
  constructor(private readonly deps: RunExecutorDeps) {}

  /** ControllerHost: what the controllers of this executor's iterations use */
  get services(): ControllerServices {
    return this.deps;
  }

  /** runs whose progress changed since it was last written (see progress()) */
  private readonly dirtyProgress = new Set<Execution>();
  private progressTimer: NodeJS.Timeout | undefined;

  trigger(options: ChildTriggerOptions, exec: Execution): Promise<TaskRun> {
    exec.triggeredChildren = true;
    // a traced iteration is the parent of its children's trigger spans
    if (exec.span) return withTriggerParent(exec.span, () => this.deps.childTrigger(options, exec.run, exec.abortRequested));
    return this.deps.childTrigger(options, exec.run, exec.abortRequested);
  }

  /**
   * Runs one iteration. Never throws, and calls `exec.complete()` exactly once, when the outcome
   * is written and the run finalised or parked (or given up). Synchronous as far as the task's own
   * code is: a run() that answers without awaiting is mapped and queued for writing in the same
   * turn (no promise per step on the hot path; see Batcher.push).
   */
  execute(exec: Execution): void {
    try {
      this.begin(exec);
    } catch (err) {
      this.crashed(exec, err);
    }
  }

  private begin(exec: Execution): void {
    const { deps } = this;
    const run = exec.run;
    const def = exec.def;
    const now = deps.clock.now();
    exec.startedAt = performance.now();
    if (run.iterations === 1 && deps.transactions.size > 0) deps.transactions.seen(run.id); // claimed: its transaction committed
    if (run.iterations === 1 && deps.bus.has('started')) deps.bus.emit('started', { run: toPublicRun(run) });
    if (deps.observers.on) {
      if (run.iterations === 1) deps.observers.started(run, now - run.dueAt);
      if (run.recovered) deps.observers.recovered(run);
    }

    // refusals decided before run() is called
    const refusal = deps.outcomes.refusal(exec, run.definitionId !== 'inline' || deps.inline.has(run.id));
    if (refusal) return this.end(exec, refusal);

    // no per-run timers: the pool's sweep checks these deadlines (see WorkerPool.sweep)
    const timeout = def?.iterationTimeout ?? 0;
    if (timeout > 0) {
      exec.deadline = now + timeout;
      exec.graceDeadline = exec.deadline + deps.options.timeoutGraceMs;
    }

    if (tracingOn()) exec.span = startIterationSpan(run, deps.options.nodeId);
    let answer: unknown;
    try {
      answer = exec.span ? inSpan(exec.span, () => this.call(exec)) : this.call(exec);
    } catch (err) {
      return this.answered(exec, err, true);
    }
    let then: unknown;
    try {
      // reading `then` runs the answer's code when it is a Proxy or has a getter
      then = typeof answer === 'object' && answer !== null ? (answer as { then?: unknown }).then : undefined;
    } catch {
      then = undefined; // not a promise, and an answer that cannot be read: outcomeOf fails the run
    }
    if (typeof then !== 'function') return this.answered(exec, answer, false);
    try {
      (then as PromiseLike<unknown>['then']).call(
        answer,
        (value) => this.answered(exec, value, false),
        (err: unknown) => this.answered(exec, err, true),
      );
    } catch (err) {
      this.answered(exec, err, true);
    }
  }

  /** calls the task's run() (or the inline function) for this iteration */
  private call(exec: Execution): unknown {
    const run = exec.run;
    if (run.definitionId === 'inline') {
      const fn = this.deps.inline.get(run.id)!;
      return run.context ? runWithContext(run.context, () => fn(run.input, exec.signal)) : fn(run.input, exec.signal);
    }
    const def = exec.def!;
    const instance = def.create();
    exec.instance = instance as unknown as { [hook: string]: unknown };
    // linear in the input's size (see toInputInstance): it is rebuilt at every iteration
    // (storage gives JSON data back: freezeJsonData is the cheap way to freeze it)
    const input = def.inputClass ? deepFreeze(toInputInstance(def.inputClass, freezeJsonData((run.input ?? {}) as Record<string, unknown>))) : undefined;
    const params = new RunParams(input as Readonly<unknown>, new RunController(exec, this), run);
    // AsyncLocalStorage costs every promise something: only enter it when there is a context
    return run.context ? runWithContext(run.context, () => instance.run(params)) : instance.run(params);
  }

  /** ends the iteration's span, once (only iterations traced while a tracer provider is registered have one) */
  private endSpan(exec: Execution, outcome: string, error?: unknown): void {
    if (!exec.span) return;
    endIterationSpan(exec.span, outcome, error);
    exec.span = undefined;
  }

  /** run() answered (or threw): the slot frees at once, the outcome is written */
  private answered(exec: Execution, value: unknown, threw: boolean): void {
    try {
      const ms = performance.now() - exec.startedAt;
      this.deps.stats.iteration(exec.run.definitionId, ms);
      if (this.deps.observers.on) this.deps.observers.iterationEnded(exec.run, ms);
      if (exec.span) this.endSpan(exec, threw ? 'error' : answerKind(value), threw ? value : undefined);
      exec.releaseSlot(); // the outcome is written while the slot serves the next run
      if (exec.settled || exec.detached) return exec.complete(); // timed out, released or lease lost meanwhile
      exec.settled = true;
      this.end(exec, this.deps.outcomes.outcomeOf(exec, value, threw));
    } catch (err) {
      this.crashed(exec, err);
    }
  }

  /** anything thrown by the executor itself: logged, and the run is left to its lease */
  private crashed(exec: Execution, err: unknown): void {
    this.deps.logger.error('tasklane: iteration crashed the executor', { runId: exec.run.id, error: errorStack(err) });
    this.retryWriteOver(exec);
    exec.complete();
  }

  /** the write of a retry is over (stored, refused or given up): the maxBacklog counts are read again from now on */
  private retryWriteOver(exec: Execution): void {
    if (!exec.returningToPending) return;
    exec.returningToPending = false;
    this.deps.backlog.returned();
  }

  /** called by the pool's sweep: the iteration outlived its timeout */
  timedOut(exec: Execution): void {
    const timeout = exec.def?.iterationTimeout ?? 0;
    const err = new Error(`Iteration exceeded its iterationTimeout of ${timeout} ms`);
    err.name = 'TimeoutError';
    exec.fire(err);
  }

  /** called by the pool's sweep: the iteration did not answer within the grace period either */
  graceExpired(exec: Execution): void {
    if (exec.settled || exec.detached) return;
    exec.settled = true;
    // its code may never return: the slot is given back rather than lost with it
    exec.releaseSlot();
    const timeout = exec.def?.iterationTimeout ?? 0;
    this.endSpan(exec, 'timeout', new Error(`The iteration did not answer within ${timeout} ms + grace`));
    this.end(exec, {
      update: this.deps.outcomes.failed(
        runError(`The iteration did not answer within ${timeout} ms + ${this.deps.options.timeoutGraceMs} ms grace`, 'ITERATION_TIMEOUT'),
      ),
      kind: 'error',
      // a hung call may well answer the next time
      retryable: true,
    });
  }

  /** a report (read and checked by the controller) merged over the progress so far: see ProgressUpdate */
  progress(exec: Execution, update: ProgressUpdate): void {
    const merged: RunProgress = { ...exec.progress };
    for (const field of ['info', 'current', 'total'] as const) {
      const v = update[field];
      if (v === null) delete merged[field];
      else if (v !== undefined) (merged as Record<string, unknown>)[field] = v;
    }
    exec.progress = merged;
    exec.run = { ...exec.run, progress: merged };
    if (this.deps.bus.has('progress')) this.deps.bus.emit('progress', { run: toPublicRun(exec.run), progress: merged });
    exec.progressDirty = true;
    // written by one timer for every run, at most once per PROGRESS_WRITE_MS each: a run that ends
    // before it fires writes its progress with its outcome, and never on its own
    this.dirtyProgress.add(exec);
    this.progressTimer ??= setTimeout(() => this.writeProgress(), PROGRESS_WRITE_MS).unref();
  }

  /** the latest progress of the runs still running that reported some since the last write */
  private writeProgress(): void {
    this.progressTimer = undefined;
    const dirty = [...this.dirtyProgress];
    this.dirtyProgress.clear();
    for (const exec of dirty) {
      if (!exec.progressDirty || exec.settled || exec.detached || !exec.progress) continue;
      exec.progressDirty = false;
      this.deps.storage.saveProgress(exec.run.id, exec.progress).catch(() => undefined);
    }
  }

  /** writes the outcome under the lease, then finalises or parks the run (see written) */
  private end(exec: Execution, answer: Outcome): void {
    const { deps } = this;
    exec.settled = true;
    let outcome = answer;
    const update = outcome.update;
    if (outcome.abortMessageUnknown) {
      // the message is in storage when the abort came through another node: read it first
      deps.aborts.messageFor(exec).then(
        (message) => {
          update.error = abortError(message ?? DEFAULT_ABORT_MESSAGE);
          outcome.abortMessageUnknown = false;
          this.end(exec, outcome);
        },
        (err: unknown) => this.crashed(exec, err),
      );
      return;
    }
    if (exec.detached) return exec.complete();
    const run = exec.run;
    if (update.progress === undefined && exec.progress) update.progress = exec.progress;
    if (outcome.retryable && update.status === 'failed' && update.error && !exec.abortRequested) {
      outcome = deps.outcomes.retryOutcome(exec, update) ?? outcome;
    }
    if (outcome.retrying) {
      const { retries } = run;
      deps.runLog.log(
        exec.def,
        run,
        'warn',
        `failed, retrying (retry ${retries + 1}) at ${new Date(outcome.update.dueAt!).toISOString()}: ${update.error!.message}`,
        update.error!.code ? { code: update.error!.code } : undefined,
      );
      // the run goes back to pending: no maxBacklog count is trusted until a read after it is
      deps.backlog.returning();
      exec.returningToPending = true;
    } else if (update.status === 'failed' && update.error) {
      deps.runLog.log(exec.def, run, 'error', `failed: ${update.error.message}`, update.error.code ? { code: update.error.code } : undefined);
    }
    exec.outcome = outcome;
    // the run's log lines are readable once its end is announced
    if (!deps.batches.logs.idle) {
      deps.batches.logs.drain().then(
        () => this.write(exec),
        (err: unknown) => this.crashed(exec, err),
      );
    } else {
      this.write(exec);
    }
  }

  private write(exec: Execution): void {
    exec.writeAttempts++;
    this.deps.batches.updates.push({ id: exec.run.id, leaseToken: exec.run.leaseToken!, ...exec.outcome!.update }, exec);
  }

  /**
   * A write that failed is retried while the store is unreachable (it would otherwise leave the
   * run to lease expiry and a second execution). The lease check makes a retry of a write that did
   * land harmless: it answers lease_lost and nothing changes twice.
   */
  writeFailed(exec: Execution, err: unknown): void {
    if (exec.detached || exec.writeAttempts >= WRITE_ATTEMPTS || this.halted) {
      this.retryWriteOver(exec);
      this.deps.logger.error(`tasklane: could not record the end of run ${exec.run.id}; it will be taken up again when its lease expires`, {
        runId: exec.run.id,
        ...errorFields(err),
      });
      return exec.complete();
    }
    const timer = setTimeout(
      () => {
        this.retries.delete(exec);
        this.write(exec);
      },
      Math.min(5000, 100 * 2 ** exec.writeAttempts),
    );
    this.retries.set(exec, timer);
  }

  /** writes waiting to be tried again (see writeFailed) */
  private readonly retries = new Map<Execution, NodeJS.Timeout>();
  /** the engine is stopping: a write that fails is not tried again */
  private halted = false;

  /**
   * The engine stops: the writes waiting for a retry are tried once more now (the stop drains
   * them before closing storage), and none is retried after that. A retry timer left running past
   * the stop would write to a closed store (see StorageGate.whenOpen).
   */
  halt(): void {
    this.halted = true;
    const waiting = [...this.retries.keys()];
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    for (const exec of waiting) this.write(exec);
  }

  /** the engine starts (again) */
  resume(): void {
    this.halted = false;
  }

  /** the outcome is stored: finalise the run (hooks, stats, announcement) or park it */
  written(exec: Execution, result: UpdateResult): void {
    const { deps } = this;
    try {
      const run = exec.run;
      const outcome = exec.outcome!;
      this.retryWriteOver(exec);
      if (!result.ok) {
        deps.logger.warn(
          `tasklane: ${result.reason === 'lease_lost' ? 'LEASE_LOST' : 'NOT_FOUND'}: run ${run.id} changed hands; this node's ${outcome.update.status} was refused`,
          { runId: run.id, definitionId: run.definitionId, code: 'LEASE_LOST' },
        );
        return exec.complete();
      }
      const stored = result.run;
      if (outcome.retrying) return this.retried(exec, stored);
      if (outcome.kind) {
        deps.inline.delete(run.id);
        // a child this iteration triggered after abort() listed the children (this node learned
        // of the abort later) is aborted now; runs that triggered none have nothing to sweep
        if (outcome.kind === 'abort' && exec.triggeredChildren) deps.aborts.childrenOfEnded(stored);
        const finalized = deps.finisher.finalize(exec.def, stored, outcome.kind, exec.instance);
        if (finalized) {
          finalized.then(
            () => exec.complete(),
            (err: unknown) => this.crashed(exec, err),
          );
          return;
        }
        return exec.complete();
      }
      if (deps.bus.has('iteration')) deps.bus.emit('iteration', { run: toPublicRun(stored) });
      deps.distribution.runnable([stored]); // a record is a notice: id, definitionId, dueAt
      exec.complete();
    } catch (err) {
      this.crashed(exec, err);
    }
  }

  /**
   * The run is back to pending for its retry (stored, so a restart keeps its due time): counted,
   * announced (`retrying`), and handed to the distribution for its due time. No hook is called:
   * onError comes once, at the final failure. An abort asked while this iteration ran (on a node
   * whose notice had not arrived yet) ends the waiting run now rather than at its due time.
   */
  private retried(exec: Execution, stored: RunRecord): void {
    const { deps } = this;
    deps.stats.retried(stored.definitionId);
    deps.stats.pendingAdded(stored.definitionId); // back to pending until its retry is claimed (queuePeak)
    if (deps.bus.has('retrying')) deps.bus.emit('retrying', { run: toPublicRun(stored), error: stored.error! });
    deps.distribution.runnable([stored]); // a record is a notice: id, definitionId, dueAt
    exec.complete();
    if (stored.abortRequested) deps.aborts.retriedWhileAborting(exec, stored);
  }
}

/** what an answer says it is, for its span; an answer that cannot be read (a throwing Proxy) is an error */
function answerKind(value: unknown): string {
  try {
    return isTaskResponse(value) ? value.kind : 'done';
  } catch {
    return 'error';
  }
}
