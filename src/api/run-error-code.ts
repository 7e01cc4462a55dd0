/**
 * The codes tasklane itself stores in a run's `error.code` (see `RunError`), each listed once.
 * Stored values: they never change (runs stored by an older version keep them).
 *
 * A run's error may also carry a code tasklane did not choose: the `code` of the error a task
 * threw or answered with `response.error()` (a driver's `ECONNREFUSED`, a host's own codes, or a
 * thrown `TasklaneError`'s {@link ErrorCode}, e.g. `TASK_TIMEOUT` from a `result()` awaited in
 * the task). `RunError.code` is therefore `RunErrorCode | (string & {})`: these are the ones the
 * engine decides.
 *
 * Thrown errors and stored run errors are two vocabularies. A caller of `result()` on a run that
 * ended `aborted` gets a thrown `TaskAbortedError` (`TASK_ABORTED`), while the run stores
 * `ABORTED`; a failed run gives `TaskFailedError` (`TASK_FAILED`) carrying the stored error.
 * docs/error-codes.md has both tables.
 */
export type RunErrorCode =
  /** the run was aborted: `abort()`, `restart()` of its definition, or the abort of its parent (status `aborted`) */
  | 'ABORTED'
  /** run() was called `maxIterations` times without finishing (`onMaxIterations` is called, not `onError`) */
  | 'MAX_ITERATIONS'
  /** the iteration did not answer within `iterationTimeout` plus the engine's `timeoutGraceMs` */
  | 'ITERATION_TIMEOUT'
  /** the run was taken up `maxCrashRecoveries` times after its node died: a poison run, not retried */
  | 'CRASH_LOOP'
  /** an inline run (`runInline`) whose node died: its function lived only there */
  | 'NODE_LOST'
  /** the run's definition is not registered, or is in the `fault` state, on the node that claimed it */
  | 'DEFINITION_FAULT'
  /** a `continue()` input patch that is not plain JSON data, or that the input class refuses */
  | 'INPUT_INVALID'
  /** a `continue()` delay that is not a valid duration */
  | 'INVALID_ARGUMENT'
  /** the output of `done()` is larger than `maxOutputBytes` */
  | 'OUTPUT_TOO_LARGE'
  /** the output of `done()` is not JSON data (too deep, a cycle, a function, ...) */
  | 'OUTPUT_INVALID'
  /** the answer of run() could not be read (a Proxy or getters that throw) */
  | 'TASK_ERROR';
