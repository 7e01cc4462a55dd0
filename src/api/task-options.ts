import type { RetryPolicy } from './retry-policy';

/** What `@Task({...})` and `createImplementation({ meta })` accept. */
export interface ScheduleOptions {
  /** node-cron expression: 5 fields, or 6 with seconds first */
  cron: string;
  /** input given to each scheduled run */
  input?: Record<string, unknown>;
  /** IANA time zone the expression is read in (default: the process's) */
  timezone?: string;
  /**
   * Catch-up after downtime: when a node starts and finds ticks that no node fired (none was
   * running), the latest of them is still fired, flagged `backfilled: true`, if it is at most this
   * old: ms, or a duration like `"2m"` (at most 24 h). The other ticks of the gap, and all of them
   * without `backfill`, are reported as missed (a warning, and `missedTicks` in `stats()`).
   */
  backfill?: number | string;
}

export type InputClass<I = object> = new () => I;

export interface TaskOptions<I = unknown> {
  /** required, unique, /^[A-Za-z0-9][A-Za-z0-9._:-]*$/, at most 128 characters */
  id: string;
  title: string;
  description?: string;
  /** class-validator class; omitted = the task takes no input */
  input?: InputClass<I>;
  /** run() is called at most this many times (default 50) */
  maxIterations?: number;
  /** ms one iteration may take (default 15 min) */
  iterationTimeout?: number;
  /** runs of this definition at once, cluster-wide (default unlimited; 1 = one at a time, in order) */
  concurrency?: number;
  /** may execute on another node of the cluster (default true) */
  distributable?: boolean;
  /** hidden from listDefinitions() and the management API by default */
  isPrivate?: boolean;
  /** no persisted run logs */
  disableLogs?: boolean;
  /** optional recurring trigger */
  schedule?: ScheduleOptions;
  /** largest accepted input, serialized (default 1 MiB) */
  maxInputBytes?: number;
  /**
   * the most object keys and array elements an input may hold, counted over all of it (default:
   * the engine's `maxInputKeys`, 10,000); more is refused with `INPUT_TOO_COMPLEX`
   */
  maxInputKeys?: number;
  /** largest accepted output, serialized (default 1 MiB) */
  maxOutputBytes?: number;
  /** persisted log lines kept per run (default 1000); later lines go to winston only */
  maxLogsPerRun?: number;
  /** times a run is taken up again after its node died before it fails with CRASH_LOOP (default 3) */
  maxCrashRecoveries?: number;
  /**
   * The most pending runs this definition may have (a positive integer; default: the engine's
   * `maxBacklog` option, else unlimited). A trigger that would pass it rejects with
   * `QueueFullError` (`code: 'QUEUE_FULL'`) and stores nothing; a trigger whose idempotency `key`
   * matches an unfinished run still returns that run. Child triggers (`parent`, or
   * `controller.trigger()`) count and are refused like any other: a child queued past the limit
   * would be the same unbounded backlog, and the parent's code can catch the error and wait.
   * Pending means stored and not yet started (delayed runs included; parked runs between
   * iterations are `running` and do not count).
   *
   * Exact for one process on any store: never more than `maxBacklog` pending (the engine counts
   * its own triggers until a read of the store shows them). On storage shared by several processes
   * or nodes (PostgreSQL, a shared SQLite file) it is approximate: each node reads what the others
   * did at most ~200 ms late when a trigger near the limit is decided, so the limit may be passed
   * by what other nodes triggered in that time.
   */
  maxBacklog?: number;
  /**
   * How a failed run is tried again (see RetryPolicy): `{ attempts, backoff? }`. Default: no
   * retry. A broken policy puts the definition in the `fault` state. `trigger({ retry })`
   * overrides it for one run.
   */
  retry?: RetryPolicy;
}

/** The normalised options of a registered definition, as `listDefinitions()` reports them. */
export interface DefinitionInfo {
  id: string;
  title: string;
  description?: string;
  hasInput: boolean;
  maxIterations: number;
  iterationTimeout: number;
  concurrency?: number;
  /** the most pending runs (the definition's own, else the engine's default); absent = unlimited */
  maxBacklog?: number;
  /** the definition's retry policy, when it has one */
  retry?: RetryPolicy;
  distributable: boolean;
  isPrivate: boolean;
  disableLogs: boolean;
  schedule?: { cron: string; timezone?: string; backfillMs?: number };
  state: 'enabled' | 'disabled' | 'fault';
  faultReason?: string;
}
