import type { RetryPolicy } from './retry-policy';
import type { ProgressUpdate, RunError, TaskContext, TaskRun } from './types';

const RESPONSE = Symbol.for('tasklane.response');

/** What run() answers; built only through `controller.response`. */
export type TaskResponse<O = unknown> =
  | { readonly [RESPONSE]: true; readonly kind: 'done'; readonly output?: O }
  | { readonly [RESPONSE]: true; readonly kind: 'continue'; readonly patch?: Record<string, unknown>; readonly delay?: number }
  | { readonly [RESPONSE]: true; readonly kind: 'error'; readonly error: Error | RunError; readonly retry?: boolean }
  | { readonly [RESPONSE]: true; readonly kind: 'aborted' };

export function isTaskResponse(value: unknown): value is TaskResponse {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[RESPONSE] === true;
}

export const responses = {
  done<O>(output?: O): TaskResponse<O> {
    return { [RESPONSE]: true, kind: 'done', output };
  },
  continue<I>(patch?: Partial<I>, options?: { delay?: number }): TaskResponse<never> {
    return { [RESPONSE]: true, kind: 'continue', patch: patch as Record<string, unknown> | undefined, delay: options?.delay };
  },
  error(error: Error | RunError, options?: ErrorAnswerOptions): TaskResponse<never> {
    return options?.retry === false ? { [RESPONSE]: true, kind: 'error', error, retry: false } : { [RESPONSE]: true, kind: 'error', error };
  },
  aborted(): TaskResponse<never> {
    return { [RESPONSE]: true, kind: 'aborted' };
  },
};

/** How `response.error()` fails the run. */
export interface ErrorAnswerOptions {
  /**
   * `false`: the run fails at once, whatever its retry policy (an error with `retryable: false`
   * does the same). Default: retried while the policy has executions left.
   */
  retry?: boolean;
}

export interface TaskResponses<I, O> {
  /** the run succeeds; `output` is stored on the run */
  done(output?: O): TaskResponse<O>;
  /** iterate again; `inputPatch` is shallow-merged over the input and stored; `delay` ms waits without holding a worker */
  continue(inputPatch?: Partial<I>, options?: { delay?: number }): TaskResponse<O>;
  /** the run fails with this error (or is retried, see RetryPolicy; `{ retry: false }` fails it at once) */
  error(error: Error | RunError, options?: ErrorAnswerOptions): TaskResponse<O>;
  /** the run ends as aborted */
  aborted(): TaskResponse<O>;
}

export interface TaskRuntime {
  /** true once an abort was asked for this run, on any node */
  isAborted(): boolean;
  /** true when less than `marginMs` (default: a tenth of iterationTimeout) is left of this iteration */
  isCloseToTimeout(marginMs?: number): boolean;
}

export interface TaskLog {
  info(message: string, data?: unknown): void;
  warn(message: string, data?: unknown): void;
  error(message: string, data?: unknown): void;
}

export interface TaskStore {
  get<T = unknown>(key: string): Promise<T | undefined>;
  set<T = unknown>(key: string, value: T): Promise<void>;
}

/**
 * Values bound to the task *definition*, not the run (SkySpark's task locals, made durable): every
 * run of the definition, on any node, sees them, and they survive restarts of the engine.
 * `TaskService.restart()` clears them. Keys follow the `store` rules (non-empty strings of at most
 * 512 characters, no control characters, not starting with `tasklane:`); values are JSON data
 * within the definition's `maxInputBytes`. A refused key or value rejects with a typed error
 * (`InvalidArgumentError`, `TaskValidationError`) and nothing is written.
 *
 * Use `store` for what belongs to one run (its checkpoint, its cursor); use `locals` for what the
 * definition's runs share (a count of what all runs processed, a high-water mark, a token).
 */
export interface TaskLocals {
  /** the value, or undefined when the key is not set */
  get<T = unknown>(key: string): Promise<T | undefined>;
  /** sets the value; `undefined` deletes the key */
  set<T = unknown>(key: string, value: T | undefined): Promise<void>;
  /**
   * Atomic read-modify-write: `fn` gets the current value (undefined when the key is not set) and
   * returns the new one (`undefined` deletes the key), synchronously or as a promise; resolves
   * with what was written. It is a compare-and-set on the key's version, tried again while
   * another writer got there first, so concurrent updates on any nodes never lose a write: `fn`
   * may be called several times and must have no side effect. A `fn` that throws rejects
   * `update` and writes nothing. After very heavy contention (1,000 lost rounds) it rejects with
   * `TaskLocalConflictError` (`LOCAL_CONFLICT`), having written nothing.
   */
  update<T = unknown>(key: string, fn: (current: T | undefined) => T | undefined | Promise<T | undefined>): Promise<T | undefined>;
}

export interface ChildTriggerOptions {
  definition: string | (abstract new (...args: never[]) => unknown);
  input?: object;
  name?: string;
  delay?: number;
  after?: string;
  key?: string;
  context?: TaskContext;
  /** the child's own retry policy, overriding its definition's */
  retry?: RetryPolicy;
}

export interface TaskController<I = unknown, O = unknown> {
  response: TaskResponses<I, O>;
  runtime: TaskRuntime;
  /** fires on abort (reason: an AbortError) and when the iteration times out (reason: a TimeoutError) */
  signal: AbortSignal;
  /** merged over the progress already reported: a field left out is kept, `null` clears it */
  progress(progress: ProgressUpdate): void;
  log: TaskLog;
  store: TaskStore;
  /** values shared by every run of this definition, durable (see TaskLocals) */
  locals: TaskLocals;
  /** waits; resolves false early when the run is aborted */
  sleep(ms: number): Promise<boolean>;
  /** starts a child run whose parentId is this run */
  trigger(options: ChildTriggerOptions): Promise<TaskRun>;
}

export interface TaskRunParams<I = unknown, O = unknown> {
  input: Readonly<I>;
  controller: TaskController<I, O>;
  run: TaskRun;
  context?: TaskContext;
}
