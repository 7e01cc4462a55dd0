import { plainToInstance } from 'class-transformer';
import { isTaskResponse, responses, type ChildTriggerOptions, type TaskResponse } from '../api/controller';
import { RunController, type ControllerHost } from './run-controller';
import type { TaskDefinition } from '../api/task-definition';
import { TaskValidationError } from '../api/errors';
import type { RunError, RunProgress, TaskRun } from '../api/types';
import type { RunRecord } from '../ports/run-record';
import type { IterationUpdate, UpdateResult } from '../ports/storage';
import { coerceError, runError } from './coerce-error';
import { Execution } from './execution';
import { toPublicRun } from './public-run';
import { runWithContext } from './run-context';
import type { FinishKind, Runtime } from './runtime';
import { deepFreeze, TRANSFORM_OPTIONS, validateInput, validateJsonData } from './validation/input-validator';
import type { ChildTrigger } from './trigger-pipeline';

const PROGRESS_WRITE_MS = 200;
const WRITE_ATTEMPTS = 8;
/** where abort() keeps its message for a running run, so any node ending it can store it */
export const ABORT_MESSAGE_KEY = 'tasklane:abort-message';
const ABORT_MESSAGE_PENDING = '\u0000abort-message';

type Outcome = { update: Omit<IterationUpdate, 'id' | 'leaseToken'>; kind?: FinishKind };

/**
 * Runs one iteration of a claimed run: builds its controller, calls run(), maps the answer to a
 * state change written under the iteration's lease, then finalises (hooks, stats, announcement)
 * or parks the run for its next iteration.
 */
export class RunExecutor implements ControllerHost {
  constructor(
    readonly rt: Runtime,
    private readonly childTrigger: ChildTrigger,
  ) {}

  trigger(options: ChildTriggerOptions, exec: Execution): Promise<TaskRun> {
    return this.childTrigger(options, exec.run, exec.abortRequested);
  }

  async execute(exec: Execution): Promise<void> {
    const { rt } = this;
    const run = exec.run;
    const def = exec.def;
    const now = rt.now();
    exec.startedAt = performance.now();
    if (run.iterations === 1 && rt.bus.has('started')) rt.bus.emit('started', { run: toPublicRun(run) });

    // refusals decided before run() is called
    if (run.definitionId === 'inline') {
      if (!rt.inlineFunctions.has(run.id)) {
        return this.end(exec, undefined, { update: this.notRun(this.failed(runError('The node that ran this inline function is gone', 'NODE_LOST'))), kind: 'error' });
      }
    } else if (!def || def.fault) {
      return this.end(exec, undefined, { update: this.notRun(this.failed(runError(`Definition "${run.definitionId}" cannot run on node ${rt.options.nodeId}`, 'DEFINITION_FAULT'))), kind: 'error' });
    }
    const maxRecoveries = def?.maxCrashRecoveries ?? 0;
    if (run.recoveries >= maxRecoveries && run.recoveries > 0) {
      return this.end(exec, undefined, {
        update: this.notRun(this.failed(runError(`The run was taken up ${run.recoveries} times after its node died; giving up`, 'CRASH_LOOP', { recoveries: run.recoveries }))),
        kind: 'error',
      });
    }
    if (exec.abortRequested) return this.end(exec, undefined, { update: this.notRun(this.aborted(run, await this.abortMessage(exec))), kind: 'abort' });
    if (def && run.iterations > def.maxIterations) {
      return this.end(exec, undefined, { update: this.notRun(this.failed(runError(`run() was called ${def.maxIterations} times without finishing`, 'MAX_ITERATIONS'))), kind: 'maxIterations' });
    }

    // no per-run timers: the pool's sweep checks these deadlines (see WorkerPool.sweep)
    const timeout = def?.iterationTimeout ?? 0;
    if (timeout > 0) {
      exec.deadline = now + timeout;
      exec.graceDeadline = exec.deadline + rt.options.timeoutGraceMs;
    }

    let instance: TaskDefinition<unknown, unknown> | undefined;
    let answer: unknown;
    let thrown: unknown;
    let didThrow = false;
    try {
      if (run.definitionId === 'inline') {
        const fn = rt.inlineFunctions.get(run.id)!;
        answer = await (run.context ? runWithContext(run.context, () => fn(run.input, exec.signal)) : fn(run.input, exec.signal));
        if (!isTaskResponse(answer)) answer = responses.done(answer);
      } else {
        instance = def!.create();
        const input = def!.inputClass ? deepFreeze(plainToInstance(def!.inputClass, (run.input ?? {}) as object, TRANSFORM_OPTIONS)) : undefined;
        const controller = new RunController(exec, this);
        let publicRun: TaskRun | undefined;
        const params = {
          input: input as Readonly<unknown>,
          controller,
          // made when first read: many tasks never look at it
          get run(): TaskRun {
            return (publicRun ??= toPublicRun(run));
          },
          context: run.context,
        };
        // AsyncLocalStorage costs every promise something: only enter it when there is a context
        answer = await (run.context ? runWithContext(run.context, () => instance!.run(params)) : instance!.run(params));
      }
    } catch (err) {
      didThrow = true;
      thrown = err;
    }
    rt.stats.iteration(run.definitionId, performance.now() - exec.startedAt);
    exec.releaseSlot(); // the outcome is written while the slot serves the next run
    if (exec.settled || exec.detached) return; // timed out, released or lease lost meanwhile
    exec.settled = true;
    const outcome = didThrow ? { update: this.failed(coerceError(thrown)), kind: 'error' as const } : this.map(exec, answer);
    await this.end(exec, instance as unknown as { [hook: string]: unknown }, outcome);
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
    void this.end(exec, undefined, {
      update: this.failed(runError(`The iteration did not answer within ${timeout} ms + ${this.rt.options.timeoutGraceMs} ms grace`, 'ITERATION_TIMEOUT')),
      kind: 'error',
    });
  }

  progress(exec: Execution, progress: RunProgress): void {
    const clean: RunProgress = {};
    if (progress && typeof progress === 'object') {
      if (typeof progress.info === 'string') clean.info = progress.info.slice(0, 1000);
      if (typeof progress.current === 'number' && Number.isFinite(progress.current)) clean.current = progress.current;
      if (typeof progress.total === 'number' && Number.isFinite(progress.total)) clean.total = progress.total;
    }
    exec.progress = clean;
    exec.run = { ...exec.run, progress: clean };
    if (this.rt.bus.has('progress')) this.rt.bus.emit('progress', { run: toPublicRun(exec.run), progress: clean });
    exec.progressDirty = true;
    if (exec.progressWrite) return;
    // at most one write per PROGRESS_WRITE_MS per run; the last value always lands
    exec.progressWrite = (async () => {
      while (exec.progressDirty && !exec.settled && !exec.detached) {
        exec.progressDirty = false;
        await this.rt.storage.saveProgress(exec.run.id, exec.progress!).catch(() => undefined);
        await new Promise((r) => setTimeout(r, PROGRESS_WRITE_MS).unref());
      }
      exec.progressWrite = undefined;
    })();
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
        return { update: this.failed(coerceError(response.error)), kind: 'error' };
      case 'aborted':
        return { update: this.aborted(run, exec.abortMessage ?? ABORT_MESSAGE_PENDING), kind: 'abort' };
      case 'continue': {
        if (exec.abortRequested) return { update: this.aborted(run, exec.abortMessage ?? ABORT_MESSAGE_PENDING), kind: 'abort' };
        const delay = response.delay ?? 0;
        if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0) {
          return { update: this.failed(runError(`continue(): delay must be a number of ms >= 0, got ${String(delay)}`, 'INVALID_ARGUMENT')), kind: 'error' };
        }
        let input = run.input;
        if (response.patch !== undefined) {
          const patch: unknown = response.patch;
          if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
            return { update: this.failed(runError('continue(): the input patch must be an object', 'INPUT_INVALID')), kind: 'error' };
          }
          const merged = { ...((run.input as object | undefined) ?? {}), ...(patch as object) };
          try {
            validateInput(def?.inputClass, merged, { maxInputBytes: def?.maxInputBytes ?? rt.options.maxInputBytes, maxDepth: 64 }, 'continue() patch');
          } catch (err) {
            const e = coerceError(err);
            e.code = 'INPUT_INVALID';
            if (err instanceof TaskValidationError) e.data = err.errors;
            return { update: this.failed(e), kind: 'error' };
          }
          input = merged;
        }
        if (def && run.iterations >= def.maxIterations) {
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
    return typeof stored === 'string' ? stored : undefined;
  }

  /**
   * Writes an iteration's outcome, retrying while the store is unreachable (a write that failed
   * would otherwise leave the run to lease expiry and a second execution). The lease check makes
   * a retry of a write that did land harmless: it answers lease_lost and nothing changes twice.
   */
  private async write(update: IterationUpdate, exec: Execution): Promise<UpdateResult | undefined> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.rt.updates.add(update);
      } catch (err) {
        if (exec.detached || attempt >= WRITE_ATTEMPTS) {
          this.rt.logger.error(`tasklane: could not record the end of run ${update.id}; it will be taken up again when its lease expires`, {
            runId: update.id,
            error: err instanceof Error ? err.message : String(err),
          });
          return undefined;
        }
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** attempt)));
      }
    }
  }

  /** writes the outcome under the lease, then finalises or parks the run */
  private async end(exec: Execution, instance: { [hook: string]: unknown } | undefined, outcome: Outcome): Promise<void> {
    const { rt } = this;
    if (outcome.update.status === 'aborted' && outcome.update.error?.message === ABORT_MESSAGE_PENDING) {
      outcome.update.error = { message: (await this.abortMessage(exec)) ?? 'aborted', code: 'ABORTED' };
    }
    exec.settled = true;
    if (exec.detached) return;
    const run = exec.run;
    if (outcome.update.progress === undefined && exec.progress) outcome.update.progress = exec.progress;
    if (outcome.update.status === 'failed' && outcome.update.error) {
      rt.log(exec.def, run, 'error', `failed: ${outcome.update.error.message}`, outcome.update.error.code ? { code: outcome.update.error.code } : undefined);
    }
    if (!rt.logs.idle) await rt.logs.drain(); // the run's log lines are readable once its end is announced
    const result = await this.write({ id: run.id, leaseToken: run.leaseToken!, ...outcome.update }, exec);
    if (!result) return;
    if (!result.ok) {
      rt.logger.warn(`tasklane: ${result.reason === 'lease_lost' ? 'LEASE_LOST' : 'NOT_FOUND'}: run ${run.id} changed hands; this node's ${outcome.update.status} was refused`, { runId: run.id, definitionId: run.definitionId, code: 'LEASE_LOST' });
      return;
    }
    const stored = result.run;
    if (outcome.kind) {
      rt.inlineFunctions.delete(run.id);
      await rt.finalize(exec.def, stored, outcome.kind, instance);
      return;
    }
    if (rt.bus.has('iteration')) rt.bus.emit('iteration', { run: toPublicRun(stored) });
    rt.distribution.runnable([{ id: stored.id, definitionId: stored.definitionId, dueAt: stored.dueAt }]);
  }
}


