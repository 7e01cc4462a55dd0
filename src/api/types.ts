/** Types of the public run model. Timestamps are ISO 8601 strings. */
import type { RunErrorCode } from './run-error-code';

export type { RunErrorCode } from './run-error-code';

export type RunStatus = 'pending' | 'running' | 'success' | 'failed' | 'aborted';

export function isFinished(status: RunStatus): boolean {
  return status === 'success' || status === 'failed' || status === 'aborted';
}

/** Values that travel with a run (user, tenant, locale, ...). Must be JSON data. */
export type TaskContext = Record<string, unknown>;

/** How a run failed. Never a thrown object: always this plain shape. */
export interface RunError {
  message: string;
  /**
   * one of the codes tasklane stores ({@link RunErrorCode}), or the code of the error the task
   * threw or answered with (any string)
   */
  code?: RunErrorCode | (string & {});
  data?: unknown;
  stack?: string;
}

export interface RunProgress {
  info?: string;
  current?: number;
  total?: number;
}

/**
 * What `controller.progress()` takes: merged over the progress already reported. A field left out
 * keeps its value (`progress({ info })` keeps `current` and `total`); `null` clears it.
 */
export interface ProgressUpdate {
  info?: string | null;
  current?: number | null;
  total?: number | null;
}

/** the brand that carries a run's output type on its id (types only: nothing at run time) */
declare const outputType: unique symbol;

/**
 * A run id: a string that, for the type checker alone, remembers the output type of its run, so
 * that `wait(run.id)` and `result(run.id)` are typed by the definition `trigger()` was given.
 * Any string is a `RunId` (of `unknown` output); at run time it is a plain string.
 */
export type RunId<O = unknown> = string & { readonly [outputType]?: O };

export interface TaskRun<O = unknown> {
  id: RunId<O>;
  definitionId: string;
  name: string;
  status: RunStatus;
  input: unknown;
  output?: O;
  error?: RunError;
  progress?: RunProgress;
  /** calls of run() so far: 1 during the first */
  iterations: number;
  /**
   * executions started (claims) of this run: 2 once it was taken up again after its node died,
   * or once it was retried after a failure
   */
  attempt: number;
  /** times the run went back to `pending` to be retried after a failure (its retry policy) */
  retries: number;
  /** the run this one is a retry of (`TaskService.retry(id)`) */
  retryOf?: string;
  parentId?: string;
  key?: string;
  context?: TaskContext;
  /** the run this one waits for */
  after?: string;
  /** when the run (or its next iteration) may start, for delayed runs */
  runAt?: string;
  /** the schedule tick that triggered this run */
  scheduledFor?: string;
  /** a tick no node fired in time, fired when a node started again (schedule `backfill`) */
  backfilled?: boolean;
  createdOn: string;
  startedOn?: string;
  finishedOn?: string;
  /** the node executing (or that last executed) the run */
  nodeId?: string;
}

export type LogType = 'info' | 'warn' | 'error';

export interface RunLog {
  runId: string;
  type: LogType;
  message: string;
  data?: unknown;
  createdOn: string;
}

export interface Page<T> {
  items: T[];
  /** pass back to get the next page; undefined when there is none */
  cursor?: string;
}

export interface ListRunsQuery {
  definition?: string;
  status?: RunStatus | RunStatus[];
  parentId?: string;
  /** only runs whose `context.tenant` is this string (a management principal's tenant reads so) */
  tenant?: string;
  limit?: number;
  cursor?: string;
}

export interface ListLogsQuery {
  runId: string;
  limit?: number;
  cursor?: string;
}

export type DefinitionStatus = 'idle' | 'pending' | 'running' | 'disabled' | 'fault';

export interface DefinitionStats {
  definitionId: string;
  status: DefinitionStatus;
  queueSize: number;
  queuePeak: number;
  evalNum: number;
  /** runs of the definition that ended `failed` here: final failures only (a retried failure is in `retryNum`) */
  errNum: number;
  /** failures of the definition's runs that were retried here (each went back to `pending`) */
  retryNum: number;
  evalTotalTime: number;
  evalAvgTime: number;
  /** schedule ticks no node fired (nothing was running), counted by the node that found the gap */
  missedTicks: number;
  lastError?: RunError;
}

export interface AcceptRules {
  /** ids or `prefix.*` patterns this node executes; omitted = all */
  include?: string[];
  /** ids or `prefix.*` patterns this node never executes */
  exclude?: string[];
}
