/**
 * How a run that fails is tried again (`@Task({ retry })`, `trigger({ retry })`).
 *
 * When an iteration throws or answers `error()` and executions remain, the run goes back to
 * `pending` with its due time moved by the backoff: it holds no worker and no concurrency slot
 * while it waits, the wait is stored (a restart keeps it), and it keeps its checkpointed input
 * and `store` values. Its `retries` counter grows and a `retrying` event carries the error; the
 * run's `error` shows that last error while it waits. `onError` is called once, at the final
 * failure, and `errNum` in `stats()` counts final failures only (`retryNum` counts retries).
 *
 * What is retried:
 * - an error thrown by `run()` or answered with `response.error(err)`, unless answered with
 *   `response.error(err, { retry: false })` or the error has `retryable: false`;
 * - `ITERATION_TIMEOUT` (the iteration did not answer in time: a hung call may well succeed
 *   the next time).
 *
 * What fails at once, whatever the policy (deterministic refusals, or failures that already
 * exhausted their own budget):
 * - `MAX_ITERATIONS` (the task's own loop ran out of calls; `onMaxIterations` is called),
 * - `INPUT_INVALID` (a `continue()` patch refused), `OUTPUT_TOO_LARGE` / `OUTPUT_INVALID`,
 *   `INVALID_ARGUMENT` (a `continue()` delay refused): the same code would be refused again;
 * - `CRASH_LOOP` (the run killed its node `maxCrashRecoveries` times: a poison run is not retried),
 * - `DEFINITION_FAULT` (the definition cannot run here), `NODE_LOST` (an inline run's function is
 *   gone with its node);
 * - anything after an abort: an aborted run never runs again, and an abort ends a run waiting for
 *   its retry at once (it is `pending`).
 *
 * Crash recoveries are counted apart: a run taken up again after its node died (`attempt` grows)
 * spends none of its `attempts`, and a retry is not a crash recovery (`maxCrashRecoveries` is not
 * spent either). `attempt` counts the executions started (claims), so a retry grows it too.
 *
 * Each execution gets its own `maxIterations` budget: a retry restarts the work from the last
 * checkpoint, as BullMQ and graphile-worker restart a job, so a run that failed at its last
 * allowed iteration still gets a real retry. `iterations` keeps counting every call of `run()`
 * across the run.
 */
export interface RetryPolicy {
  /** the most executions of the run in all, the first included: a positive integer (default 1: no retry) */
  attempts: number;
  /** the wait before each retry (default: none, the run is due again at once) */
  backoff?: RetryBackoff;
}

export interface RetryBackoff {
  /**
   * `fixed`: every retry waits `delay`; `exponential`: the n-th retry waits `delay * 2^(n-1)`,
   * capped by `maxDelay`
   */
  type: 'fixed' | 'exponential';
  /** ms: a finite number from 0 to 10 years */
  delay: number;
  /** ms: the longest wait (a finite number from 0 to 10 years); default: 10 years */
  maxDelay?: number;
  /**
   * spreads the retries of runs that failed together: each wait is drawn uniformly between half
   * of it and all of it ("equal jitter"), so it never shrinks below half the backoff
   */
  jitter?: boolean;
}
