import type { ProgressUpdate, RunError, TaskContext, TaskRun } from './types';

const RESPONSE = Symbol.for('tasklane.response');

/** What run() answers; built only through `controller.response`. */
export type TaskResponse<O = unknown> =
  | { readonly [RESPONSE]: true; readonly kind: 'done'; readonly output?: O }
  | { readonly [RESPONSE]: true; readonly kind: 'continue'; readonly patch?: Record<string, unknown>; readonly delay?: number }
  | { readonly [RESPONSE]: true; readonly kind: 'error'; readonly error: Error | RunError }
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
  error(error: Error | RunError): TaskResponse<never> {
    return { [RESPONSE]: true, kind: 'error', error };
  },
  aborted(): TaskResponse<never> {
    return { [RESPONSE]: true, kind: 'aborted' };
  },
};

export interface TaskResponses<I, O> {
  /** the run succeeds; `output` is stored on the run */
  done(output?: O): TaskResponse<O>;
  /** iterate again; `inputPatch` is shallow-merged over the input and stored; `delay` ms waits without holding a worker */
  continue(inputPatch?: Partial<I>, options?: { delay?: number }): TaskResponse<O>;
  /** the run fails with this error */
  error(error: Error | RunError): TaskResponse<O>;
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

export interface ChildTriggerOptions {
  definition: string | (abstract new (...args: never[]) => unknown);
  input?: object;
  name?: string;
  delay?: number;
  after?: string;
  key?: string;
  context?: TaskContext;
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
