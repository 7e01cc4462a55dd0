import { isTaskResponse, responses, type ChildTriggerOptions, type TaskResponse } from '../../api/controller';
import { RunController, type ControllerHost } from './run-controller';
import { TaskValidationError, TasklaneError } from '../../api/errors';
import type { ProgressUpdate, RunError, RunProgress, TaskRun } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type { UpdateResult } from '../../ports/storage';
import { types } from 'node:util';
import { checkDuration } from '../../util/duration';
import { describeKind, errorFields, errorMessage, errorStack } from '../../util/safe-string';
import { coerceError, runError } from '../coerce-error';
import { inputLimitsOf } from '../definitions/definition-registry';
import type { Execution, Outcome, OutcomeWriter } from './execution';
import { endIterationSpan, inSpan, startIterationSpan, tracingOn, withTriggerParent } from '../observation/tracing';
import { toPublicRun } from '../public-run';
import { refusesRetry, retryDelay } from './retry-policy';
import { runWithContext } from './run-context';
import type { Runtime } from '../runtime/runtime';
import { toInputInstance } from '../validation/input-instance';
import { deepFreeze, freezeJsonData, prepareInput, validateJsonData } from '../validation/input-validator';
import type { ChildTrigger } from '../trigger/trigger-pipeline';

const PROGRESS_WRITE_MS = 200;
const WRITE_ATTEMPTS = 8;
/** where abort() keeps its message for a running run, so any node ending it can store it */
export const ABORT_MESSAGE_KEY = 'tasklane:abort-message';
const ABORT_MESSAGE_PENDING = '\u0000abort-message';

/**
 * Runs one iteration of a claimed run: builds its controller, calls run(), maps the answer to a
 * state change written under the iteration's lease, then finalises (hooks, stats, announcement)
 * or parks the run for its next iteration.
 */
export class RunExecutor implements ControllerHost, OutcomeWriter {
  constructor(
    readonly rt: Runtime,
    private readonly childTrigger: ChildTrigger,
  ) {}

  /** runs whose progress changed since it was last written (see progress()) */
  private readonly dirtyProgress = new Set<Execution>();
  private progressTimer: NodeJS.Timeout | undefined;

  trigger(options: ChildTriggerOptions, exec: Execution): Promise<TaskRun> {
    exec.triggeredChildren = true;
    // a traced iteration is the parent of its children's trigger spans
    if (exec.span) return withTriggerParent(exec.span, () => this.childTrigger(options, exec.run, exec.abortRequested));
    return this.childTrigger(options, exec.run, exec.abortRequested);
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
    const { rt } = this;
    const run = exec.run;
    const def = exec.def;
    const now = rt.now();
    exec.startedAt = performance.now();
    if (run.iterations === 1 && rt.transactions.size > 0) rt.transactions.seen(run.id); // claimed: its transaction committed
    if (run.iterations === 1 && rt.bus.has('started')) rt.bus.emit('started', { run: toPublicRun(run) });
    if (run.iterations === 1) rt.observer?.started(run, now - run.dueAt);

    // refusals decided before run() is called
    if (run.definitionId === 'inline') {
      if (!rt.inlineFunctions.has(run.id)) {
        return this.end(exec, { update: this.notRun(this.failed(runError('The node that ran this inline function is gone', 'NODE_LOST'))), kind: 'error' });
      }
    } else if (!def || def.fault) {
      return this.end(exec, { update: this.notRun(this.failed(runError(`Definition "${run.definitionId}" cannot run on node ${rt.options.nodeId}`, 'DEFINITION_FAULT'))), kind: 'error' });
    }
    const maxRecoveries = def?.maxCrashRecoveries ?? 0;
    if (run.recoveries >= maxRecoveries && run.recoveries > 0) {
      return this.end(exec, {
        update: this.notRun(this.failed(runError(`The run was taken up ${run.recoveries} times after its node died; giving up`, 'CRASH_LOOP', { recoveries: run.recoveries }))),
        kind: 'error',
      });
    }
    if (exec.abortRequested) return this.end(exec, { update: this.notRun(this.aborted(run, exec.abortMessage ?? ABORT_MESSAGE_PENDING)), kind: 'abort' });
    if (def && run.iterations - run.iterationBase > def.maxIterations) {
      return this.end(exec, { update: this.notRun(this.failed(runError(`run() was called ${def.maxIterations} times without finishing`, 'MAX_ITERATIONS'))), kind: 'maxIterations' });
    }

    // no per-run timers: the pool's sweep checks these deadlines (see WorkerPool.sweep)
    const timeout = def?.iterationTimeout ?? 0;
    if (timeout > 0) {
      exec.deadline = now + timeout;
      exec.graceDeadline = exec.deadline + rt.options.timeoutGraceMs;
    }

    if (tracingOn()) exec.span = startIterationSpan(run, rt.options.nodeId);
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
      const fn = this.rt.inlineFunctions.get(run.id)!;
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
      this.rt.stats.iteration(exec.run.definitionId, ms);
      this.rt.observer?.iterationEnded(exec.run, ms);
      if (exec.span) this.endSpan(exec, threw ? 'error' : answerKind(value), threw ? value : undefined);
      exec.releaseSlot(); // the outcome is written while the slot serves the next run
      if (exec.settled || exec.detached) return exec.complete(); // timed out, released or lease lost meanwhile
      exec.settled = true;
      this.end(exec, this.outcomeOf(exec, value, threw));
    } catch (err) {
      this.crashed(exec, err);
    }
  }

  /**
   * What an answer means. Whatever the task answered or threw (a Proxy whose traps throw, an
   * object with throwing getters), the run gets an outcome: a failure when the answer cannot be
   * read, never an exception that would leave the run `running` until its lease expires.
   */
  private outcomeOf(exec: Execution, value: unknown, threw: boolean): Outcome {
    if (threw) return this.thrown(exec, value);
    try {
      if (exec.run.definitionId === 'inline' && !isTaskResponse(value)) return this.map(exec, responses.done(value));
      return this.map(exec, value);
    } catch (err) {
      const cause = coerceError(err);
      return { update: this.failed(runError(`The answer of run() could not be read: ${cause.message}`, 'TASK_ERROR')), kind: 'error' };
    }
  }

  /**
   * run() threw: the run fails (or is retried). The TaskAbortedError tasklane raised in it for its
   * own abort (a locals write refused after a restart of its definition) ends it `aborted`, as
   * `aborted()` would.
   */
  private thrown(exec: Execution, value: unknown): Outcome {
    if (exec.abortRequested && TasklaneError.is(value) && value.code === 'TASK_ABORTED') {
      return { update: this.aborted(exec.run, exec.abortMessage ?? ABORT_MESSAGE_PENDING), kind: 'abort' };
    }
    return { update: this.failed(coerceError(value)), kind: 'error', retryable: !refusesRetry(value) };
  }

  /** anything thrown by the executor itself: logged, and the run is left to its lease */
  private crashed(exec: Execution, err: unknown): void {
    this.rt.logger.error('tasklane: iteration crashed the executor', { runId: exec.run.id, error: errorStack(err) });
    this.retryWriteOver(exec);
    exec.complete();
  }

  /** the write of a retry is over (stored, refused or given up): the maxBacklog counts are read again from now on */
  private retryWriteOver(exec: Execution): void {
    if (!exec.returningToPending) return;
    exec.returningToPending = false;
    this.rt.backlog.returned();
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
      update: this.failed(runError(`The iteration did not answer within ${timeout} ms + ${this.rt.options.timeoutGraceMs} ms grace`, 'ITERATION_TIMEOUT')),
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
    if (this.rt.bus.has('progress')) this.rt.bus.emit('progress', { run: toPublicRun(exec.run), progress: merged });
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
      this.rt.storage.saveProgress(exec.run.id, exec.progress).catch(() => undefined);
    }
  }

  private map(exec: Execution, answer: unknown): Outcome {
    const { rt } = this;
    const run = exec.run;
    const def = exec.def;
    const response: TaskResponse = isTaskResponse(answer) ? answer : responses.done(answer);
    switch (response.kind) {
      case 'done': {
        try {
          validateJsonData(response.output, { maxInputBytes: def?.maxOutputBytes ?? rt.options.maxOutputBytes, maxDepth: 64 }, 'output');
        } catch (err) {
          const e = coerceError(err);
          if (err instanceof TaskValidationError && err.code === 'INPUT_TOO_LARGE') e.code = 'OUTPUT_TOO_LARGE';
          else if (err instanceof TaskValidationError) e.code = 'OUTPUT_INVALID';
          return { update: this.failed(e), kind: 'error' };
        }
        return { update: { status: 'success', output: response.output, finishedOn: rt.nowIso(), progress: exec.progress }, kind: 'done' };
      }
      case 'error':
        return { update: this.failed(coerceError(response.error)), kind: 'error', retryable: response.retry !== false && !refusesRetry(response.error) };
      case 'aborted':
        return { update: this.aborted(run, exec.abortMessage ?? ABORT_MESSAGE_PENDING), kind: 'abort' };
      case 'continue': {
        if (exec.abortRequested) return { update: this.aborted(run, exec.abortMessage ?? ABORT_MESSAGE_PENDING), kind: 'abort' };
        let delay: number;
        try {
          // a due time beyond the limit would break every read of the run (API.md: limits on times)
          delay = checkDuration(response.delay ?? 0, 'continue(): delay');
        } catch (err) {
          return { update: this.failed(runError(errorMessage(err), 'INVALID_ARGUMENT')), kind: 'error' };
        }
        let input = run.input;
        if (response.patch !== undefined) {
          const patched = this.applyPatch(exec, response.patch);
          if ('failure' in patched) return { update: this.failed(patched.failure), kind: 'error' };
          input = patched.input;
        }
        if (def && run.iterations - run.iterationBase >= def.maxIterations) {
          return {
            update: { ...this.failed(runError(`run() was called ${def.maxIterations} times (maxIterations) and still answered continue()`, 'MAX_ITERATIONS')), input },
            kind: 'maxIterations',
          };
        }
        const update: Outcome['update'] = { status: 'running', dueAt: rt.now() + delay, progress: exec.progress };
        if (input !== run.input) update.input = input;
        return { update };
      }
    }
  }

  /**
   * The run's input with a continue() patch merged over it, validated as a trigger's input is; or
   * the failure (INPUT_INVALID) of a patch that is not plain JSON data (a Proxy, getters: checked
   * without running them), or whose merge the input class refuses. An empty patch changes nothing.
   */
  private applyPatch(exec: Execution, patch: unknown): { input: unknown } | { failure: RunError } {
    const run = exec.run;
    const limits = exec.def ? inputLimitsOf(exec.def) : { maxInputBytes: this.rt.options.maxInputBytes, maxDepth: 64, maxKeys: this.rt.options.maxInputKeys };
    const refused = (err: unknown): { failure: RunError } => {
      const e = coerceError(err);
      e.code = 'INPUT_INVALID';
      if (err instanceof TaskValidationError) e.data = err.errors;
      return { failure: e };
    };
    if (typeof patch !== 'object' || patch === null || types.isProxy(patch) || Array.isArray(patch)) {
      return { failure: runError(`continue(): the input patch must be a plain object, got ${describeKind(patch)}`, 'INPUT_INVALID') };
    }
    try {
      validateJsonData(patch, limits, 'continue() patch');
    } catch (err) {
      return refused(err);
    }
    if (Object.keys(patch).length === 0) return { input: run.input };
    const merged = { ...((run.input as object | undefined) ?? {}), ...patch };
    try {
      // the validated JSON copy is stored: nothing of the task's own objects is kept
      return { input: prepareInput(exec.def?.inputClass, merged, limits, 'continue() patch').plain };
    } catch (err) {
      return refused(err);
    }
  }

  /** run() was not called in this claim: the claim's iteration is not counted */
  private notRun(update: Outcome['update']): Outcome['update'] {
    return { ...update, unclaim: true };
  }

  private failed(error: RunError): Outcome['update'] {
    return { status: 'failed', error, finishedOn: this.rt.nowIso() };
  }

  private aborted(run: RunRecord, message?: string): Outcome['update'] {
    return { status: 'aborted', error: { message: message ?? run.error?.message ?? 'aborted', code: 'ABORTED' }, finishedOn: this.rt.nowIso() };
  }

  /** the message given to abort(): in memory when the abort came through this node, else stored */
  private async abortMessage(exec: Execution): Promise<string | undefined> {
    if (exec.abortMessage) return exec.abortMessage;
    const stored = await this.rt.storage.getValue(exec.run.id, ABORT_MESSAGE_KEY).catch(() => undefined);
    if (typeof stored === 'string') return stored;
    // a child that learned of its parent's abort here (WorkerPool.abortLocalDescendants) may end
    // before the node that received abort() stored its own message: the message it will store
    // is made from the parent's, which was stored before the parent's abort was announced
    const parentId = exec.run.parentId;
    if (parentId === undefined) return undefined;
    const parentMessage = await this.rt.storage.getValue(parentId, ABORT_MESSAGE_KEY).catch(() => undefined);
    return typeof parentMessage === 'string' ? `parent ${parentId} aborted: ${parentMessage}` : undefined;
  }

  /** writes the outcome under the lease, then finalises or parks the run (see written) */
  private end(exec: Execution, answer: Outcome): void {
    const { rt } = this;
    exec.settled = true;
    let outcome = answer;
    const update = outcome.update;
    if (update.status === 'aborted' && update.error?.message === ABORT_MESSAGE_PENDING) {
      // the message is in storage when the abort came through another node: read it first
      this.abortMessage(exec).then(
        (message) => {
          update.error = { message: message ?? 'aborted', code: 'ABORTED' };
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
      outcome = this.retryOutcome(exec, update) ?? outcome;
    }
    if (outcome.retrying) {
      const { retries } = run;
      rt.log(exec.def, run, 'warn', `failed, retrying (retry ${retries + 1}) at ${new Date(outcome.update.dueAt!).toISOString()}: ${update.error!.message}`, update.error!.code ? { code: update.error!.code } : undefined);
      // the run goes back to pending: no maxBacklog count is trusted until a read after it is
      rt.backlog.returning();
      exec.returningToPending = true;
    } else if (update.status === 'failed' && update.error) {
      rt.log(exec.def, run, 'error', `failed: ${update.error.message}`, update.error.code ? { code: update.error.code } : undefined);
    }
    exec.outcome = outcome;
    exec.writer = this;
    // the run's log lines are readable once its end is announced
    if (!rt.logs.idle) {
      rt.logs.drain().then(
        () => this.write(exec),
        (err: unknown) => this.crashed(exec, err),
      );
    } else {
      this.write(exec);
    }
  }

  /**
   * The run's retry policy (its own, else its definition's) turns this failure into a retry while
   * executions remain: back to pending, due after the backoff, the error kept on the run. Undefined
   * when the policy has no execution left (or there is none): the run fails.
   */
  private retryOutcome(exec: Execution, failure: Outcome['update']): Outcome | undefined {
    const run = exec.run;
    const policy = run.retryPolicy ?? exec.def?.retry;
    if (!policy || run.retries + 1 >= policy.attempts) return undefined;
    const dueAt = this.rt.now() + retryDelay(policy, run.retries + 1);
    return { update: { status: 'pending', retry: true, dueAt, error: failure.error, progress: failure.progress }, retrying: true };
  }

  private write(exec: Execution): void {
    exec.writeAttempts++;
    this.rt.updates.push({ id: exec.run.id, leaseToken: exec.run.leaseToken!, ...exec.outcome!.update }, exec);
  }

  /**
   * A write that failed is retried while the store is unreachable (it would otherwise leave the
   * run to lease expiry and a second execution). The lease check makes a retry of a write that did
   * land harmless: it answers lease_lost and nothing changes twice.
   */
  writeFailed(exec: Execution, err: unknown): void {
    if (exec.detached || exec.writeAttempts >= WRITE_ATTEMPTS || this.halted) {
      this.retryWriteOver(exec);
      this.rt.logger.error(`tasklane: could not record the end of run ${exec.run.id}; it will be taken up again when its lease expires`, {
        runId: exec.run.id,
        ...errorFields(err),
      });
      return exec.complete();
    }
    const timer = setTimeout(() => {
      this.retries.delete(exec);
      this.write(exec);
    }, Math.min(5000, 100 * 2 ** exec.writeAttempts));
    this.retries.set(exec, timer);
  }

  /** writes waiting to be tried again (see writeFailed) */
  private readonly retries = new Map<Execution, NodeJS.Timeout>();
  /** the engine is stopping: a write that fails is not tried again */
  private halted = false;

  /**
   * The engine stops: the writes waiting for a retry are tried once more now (the stop drains
   * them before closing storage), and none is retried after that. A retry timer left running past
   * the stop would write to a closed store (see Runtime.whenOpen).
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
    const { rt } = this;
    try {
      const run = exec.run;
      const outcome = exec.outcome!;
      this.retryWriteOver(exec);
      if (!result.ok) {
        rt.logger.warn(`tasklane: ${result.reason === 'lease_lost' ? 'LEASE_LOST' : 'NOT_FOUND'}: run ${run.id} changed hands; this node's ${outcome.update.status} was refused`, { runId: run.id, definitionId: run.definitionId, code: 'LEASE_LOST' });
        return exec.complete();
      }
      const stored = result.run;
      if (outcome.retrying) return this.retried(exec, stored);
      if (outcome.kind) {
        rt.inlineFunctions.delete(run.id);
        // a child this iteration triggered after abort() listed the children (this node learned
        // of the abort later) is aborted now; runs that triggered none have nothing to sweep
        if (outcome.kind === 'abort' && exec.triggeredChildren) {
          rt.abortChildrenOf(stored.id, stored.error?.message ?? 'aborted').catch((err: unknown) =>
            rt.logger.warn(`tasklane: aborting the children of ${stored.id} failed`, { runId: stored.id, ...errorFields(err) }),
          );
        }
        const finalized = rt.finalize(exec.def, stored, outcome.kind, exec.instance);
        if (finalized) {
          finalized.then(
            () => exec.complete(),
            (err: unknown) => this.crashed(exec, err),
          );
          return;
        }
        return exec.complete();
      }
      if (rt.bus.has('iteration')) rt.bus.emit('iteration', { run: toPublicRun(stored) });
      rt.distribution.runnable([stored]); // a record is a notice: id, definitionId, dueAt
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
    const { rt } = this;
    rt.stats.retried(stored.definitionId);
    rt.stats.pendingAdded(stored.definitionId); // back to pending until its retry is claimed (queuePeak)
    if (rt.bus.has('retrying')) rt.bus.emit('retrying', { run: toPublicRun(stored), error: stored.error! });
    rt.distribution.runnable([stored]); // a record is a notice: id, definitionId, dueAt
    exec.complete();
    if (!stored.abortRequested) return;
    this.abortMessage(exec)
      .then((message) => rt.abortRun(stored.id, message ?? 'aborted'))
      .catch((err: unknown) =>
        rt.logger.warn(`tasklane: aborting run ${stored.id}, whose abort came while it failed, failed; it ends aborted when due`, { runId: stored.id, ...errorFields(err) }),
      );
  }
}

/**
 * What run() receives. `run` is a getter made on first read (many tasks never look at it); a
 * class rather than an object literal with a getter, which would cost a closure and an accessor
 * pair per iteration.
 */
class RunParams {
  readonly context: RunRecord['context'];
  private publicRun?: TaskRun;

  constructor(
    readonly input: Readonly<unknown>,
    readonly controller: RunController,
    private readonly record: RunRecord,
  ) {
    this.context = record.context;
  }

  get run(): TaskRun {
    return (this.publicRun ??= toPublicRun(this.record));
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
