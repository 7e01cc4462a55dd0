import { types } from 'node:util';
import { isTaskResponse, responses, type TaskResponse } from '../../api/controller';
import { TaskValidationError, TasklaneError } from '../../api/errors';
import type { RunError, RunErrorCode } from '../../api/types';
import { checkDuration } from '../../util/duration';
import { describeKind, errorMessage } from '../../util/safe-string';
import { abortError } from '../abort/abort-message';
import { coerceError, runError } from '../coerce-error';
import { inputLimitsOf } from '../definitions/definition-registry';
import type { ResolvedOptions } from '../options';
import type { EngineClock } from '../runtime/engine-clock';
import { prepareInput } from '../validation/input-validator';
import { validateJsonData } from '../validation/json-data';
import type { Execution, Outcome } from './execution';
import { refusesRetry, retryDelay } from './retry-policy';

/**
 * What an iteration's answer (or its refusal before run() is called) means for its run: the
 * change to write under its lease, and how the run finished, if it did. Pure decisions: nothing
 * here writes or announces (see RunExecutor).
 */
export class IterationOutcomes {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly clock: EngineClock,
  ) {}

  /**
   * The refusals decided before run() is called (a run whose node or definition is gone, a
   * crash loop, an abort, too many iterations), or undefined when run() is to be called.
   */
  refusal(exec: Execution, inlineKnown: boolean): Outcome | undefined {
    const { run, def } = exec;
    if (run.definitionId === 'inline') {
      if (!inlineKnown) return { update: this.notRun(this.failed(runError('The node that ran this inline function is gone', 'NODE_LOST'))), kind: 'error' };
    } else if (!def || def.fault) {
      return {
        update: this.notRun(this.failed(runError(`Definition "${run.definitionId}" cannot run on node ${this.options.nodeId}`, 'DEFINITION_FAULT'))),
        kind: 'error',
      };
    }
    const maxRecoveries = def?.maxCrashRecoveries ?? 0;
    if (run.recoveries >= maxRecoveries && run.recoveries > 0) {
      return {
        update: this.notRun(
          this.failed(runError(`The run was taken up ${run.recoveries} times after its node died; giving up`, 'CRASH_LOOP', { recoveries: run.recoveries })),
        ),
        kind: 'error',
      };
    }
    if (exec.abortRequested) {
      const aborted = this.aborted(exec);
      return { ...aborted, update: this.notRun(aborted.update) };
    }
    if (def && run.iterations - run.iterationBase > def.maxIterations) {
      return {
        update: this.notRun(this.failed(runError(`run() was called ${def.maxIterations} times without finishing`, 'MAX_ITERATIONS'))),
        kind: 'maxIterations',
      };
    }
    return undefined;
  }

  /**
   * What an answer means. Whatever the task answered or threw (a Proxy whose traps throw, an
   * object with throwing getters), the run gets an outcome: a failure when the answer cannot be
   * read, never an exception that would leave the run `running` until its lease expires.
   */
  outcomeOf(exec: Execution, value: unknown, threw: boolean): Outcome {
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
      return this.aborted(exec);
    }
    return { update: this.failed(coerceError(value)), kind: 'error', retryable: !refusesRetry(value) };
  }

  private map(exec: Execution, answer: unknown): Outcome {
    const run = exec.run;
    const def = exec.def;
    const response: TaskResponse = isTaskResponse(answer) ? answer : responses.done(answer);
    switch (response.kind) {
      case 'done': {
        try {
          validateJsonData(response.output, { maxInputBytes: def?.maxOutputBytes ?? this.options.maxOutputBytes, maxDepth: 64 }, 'output');
        } catch (err) {
          const e = coerceError(err);
          if (err instanceof TaskValidationError && err.code === 'INPUT_TOO_LARGE') e.code = 'OUTPUT_TOO_LARGE' satisfies RunErrorCode;
          else if (err instanceof TaskValidationError) e.code = 'OUTPUT_INVALID' satisfies RunErrorCode;
          return { update: this.failed(e), kind: 'error' };
        }
        return { update: { status: 'success', output: response.output, finishedOn: this.clock.nowIso(), progress: exec.progress }, kind: 'done' };
      }
      case 'error':
        return { update: this.failed(coerceError(response.error)), kind: 'error', retryable: response.retry !== false && !refusesRetry(response.error) };
      case 'aborted':
        return this.aborted(exec);
      case 'continue': {
        if (exec.abortRequested) return this.aborted(exec);
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
            update: {
              ...this.failed(runError(`run() was called ${def.maxIterations} times (maxIterations) and still answered continue()`, 'MAX_ITERATIONS')),
              input,
            },
            kind: 'maxIterations',
          };
        }
        const update: Outcome['update'] = { status: 'running', dueAt: this.clock.now() + delay, progress: exec.progress };
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
    const limits = exec.def ? inputLimitsOf(exec.def) : { maxInputBytes: this.options.maxInputBytes, maxDepth: 64, maxKeys: this.options.maxInputKeys };
    const refused = (err: unknown): { failure: RunError } => {
      const e = coerceError(err);
      e.code = 'INPUT_INVALID' satisfies RunErrorCode;
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
  notRun(update: Outcome['update']): Outcome['update'] {
    return { ...update, unclaim: true };
  }

  failed(error: RunError): Outcome['update'] {
    return { status: 'failed', error, finishedOn: this.clock.nowIso() };
  }

  /**
   * The run ends aborted, with the message abort() was given: known here when the abort came
   * through this node; else read before the write (see Outcome.abortMessageUnknown)
   */
  aborted(exec: Execution): Outcome {
    const update: Outcome['update'] = { status: 'aborted', finishedOn: this.clock.nowIso() };
    if (exec.abortMessage === undefined) return { update, kind: 'abort', abortMessageUnknown: true };
    update.error = abortError(exec.abortMessage);
    return { update, kind: 'abort' };
  }

  /**
   * The run's retry policy (its own, else its definition's) turns this failure into a retry while
   * executions remain: back to pending, due after the backoff, the error kept on the run. Undefined
   * when the policy has no execution left (or there is none): the run fails.
   */
  retryOutcome(exec: Execution, failure: Outcome['update']): Outcome | undefined {
    const run = exec.run;
    const policy = run.retryPolicy ?? exec.def?.retry;
    if (!policy || run.retries + 1 >= policy.attempts) return undefined;
    const dueAt = this.clock.now() + retryDelay(policy, run.retries + 1);
    return { update: { status: 'pending', retry: true, dueAt, error: failure.error, progress: failure.progress }, retrying: true };
  }
}
