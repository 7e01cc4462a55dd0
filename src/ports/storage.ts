import type { ListLogsQuery, ListRunsQuery, Page, RunError, RunLog, RunProgress, RunStatus } from '../api/types';
import type { RunRecord } from './run-record';
import type { HostTransaction, TransactionSession } from './transaction';

export interface StorageCapabilities {
  /** survives a restart of the process */
  durable: boolean;
  /** several processes may share it (claims are atomic across processes) */
  shared: boolean;
  /**
   * runs can be stored through a host's own transaction (`trigger({ transaction })`):
   * `openTransaction` is implemented. Absent means false.
   */
  transactions?: boolean;
}

/** One definition in a claim: how many runs of it this node may take now. */
export interface ClaimSlot {
  definitionId: string;
  /** at most this many runs of the definition in this claim */
  max: number;
  /** cluster-wide limit of running runs (parked ones included); undefined = unlimited */
  concurrency?: number;
}

export interface ClaimRequest {
  nodeId: string;
  /** epoch ms, the engine's clock */
  now: number;
  leaseMs: number;
  /** at most this many runs in all */
  limit: number;
  /** only these definitions; each with its cap */
  slots: ClaimSlot[];
}

/** The result of one iteration (or a release), written under the iteration's lease. */
export interface IterationUpdate {
  id: string;
  leaseToken: string;
  /**
   * `running`: parked for its next iteration at `dueAt` (lease released);
   * `pending`: released unstarted-again (graceful stop), claimable at `dueAt`;
   * `success` | `failed` | `aborted`: finished. `success` clears the run's `error` (the failure
   * of an execution that was retried: the run did not fail).
   */
  status: RunStatus;
  dueAt?: number;
  /**
   * the new input (a continue() patch merged), when it changed; the first such change keeps the
   * input as it was in `originalInput` (once: later changes leave `originalInput` as it is)
   */
  input?: unknown;
  output?: unknown;
  error?: RunError;
  progress?: RunProgress;
  /** ISO, set with a final status */
  finishedOn?: string;
  /**
   * The task's code did not run in this claim: `iterations` goes back by one (it counts calls of
   * run()); with `pending` the claim is undone altogether and `attempt` goes back by one too (a
   * run claimed ahead and given back must not look retried), and when that was its first claim
   * `startedOn` and `nodeId` are cleared (it never started).
   */
  unclaim?: boolean;
  /**
   * With `pending`: the run failed and goes back to pending to be retried at `dueAt` (`error` is
   * the failure, kept visible while it waits): `retries + 1`, `iterationBase = iterations`. The
   * claim is not undone (`attempt`, `startedOn` stay: it did execute).
   */
  retry?: boolean;
}

export type UpdateResult = { ok: true; run: RunRecord } | { ok: false; reason: 'lease_lost' | 'not_found' };

export interface LeaseRenewal {
  id: string;
  leaseToken: string;
}

export interface RenewResult {
  /** runs whose lease is no longer this token's: the iteration must not write anything more */
  lost: string[];
  /** runs with a persisted abort request (a node that missed the broadcast learns it here) */
  abortRequested: string[];
}

export type AbortResult =
  | { kind: 'not_found' }
  /** already finished: returned unchanged */
  | { kind: 'finished'; run: RunRecord }
  /** pending or parked: now `aborted` (the caller calls onAbort and announces) */
  | { kind: 'aborted'; run: RunRecord }
  /** running under a lease: the abort is recorded; the executing node ends it */
  | { kind: 'requested'; run: RunRecord };

export interface EndedRuns {
  ended: RunRecord[];
  missing: string[];
}

export type DeleteRunResult =
  | { kind: 'not_found' }
  /** the run, or one of its descendants, has not ended: nothing was deleted */
  | { kind: 'unfinished'; run: RunRecord }
  /** the run and its descendants, with their logs and values: every id deleted, the run's first */
  | { kind: 'deleted'; ids: string[] };

/** A definition's local as stored: its value and the version of its last write. */
export interface LocalEntry {
  /** undefined when the key is not set (never written, deleted, or cleared by a restart) */
  value: unknown;
  /** 0 when never written; grows by one at every write of the key, deletes and clears included */
  version: number;
}

export interface LocalWrite {
  definitionId: string;
  key: string;
  /** the new value; undefined deletes the key */
  value: unknown;
  /** compare-and-set: written only while the key's version is this (0: never written). Absent: unconditional */
  expectedVersion?: number;
  /**
   * the run writing: refused (`restarted`) when the definition was restarted after that run was
   * created (its id is below the restart's cut-off), so a run aborted by `restart()` cannot write
   * a local back after the restart cleared them
   */
  writerRunId?: string;
}

export type LocalWriteResult = { ok: true; version: number } | { ok: false; reason: 'conflict' | 'restarted' };

export interface AbortRunsRequest {
  definitionId: string;
  /** only runs whose id is below this one (created before it) */
  before: string;
  message: string;
  /** ISO: the finishedOn of the runs ended */
  now: string;
  /** at most this many runs changed in this call */
  limit: number;
}

export interface AbortRunsResult {
  /** pending or parked runs now `aborted` (error `{ message, code: 'ABORTED' }`) */
  aborted: RunRecord[];
  /** running runs under a lease whose abort was not requested yet: now `abortRequested` */
  requested: RunRecord[];
}

export interface StorageListRunsQuery extends ListRunsQuery {
  /** only runs triggered by a schedule (scheduledFor set) */
  scheduled?: boolean;
}

/**
 * Storage: the truth about runs. It never decides who runs what; it answers queries and applies
 * state changes atomically.
 *
 * Every implementation guarantees:
 * - **Atomic, checked transitions.** Status changes are compare-and-set: `updateIterations` applies
 *   an update only while the run is `running` under that exact `leaseToken`; otherwise it answers
 *   `lease_lost` and changes nothing. `requestAbort` and `claimRuns` race safely with each other
 *   and with claims made by other processes sharing the store.
 * - **Claims** (`claimRuns`) return at most `limit` runs, moved to `running` with a fresh lease
 *   (`leaseToken`, `leaseExpiresAt = now + leaseMs`, `nodeId`), `iterations + 1`, and `startedOn`
 *   set if it was not. Claimable are:
 *   (a) `running` runs that are parked (no lease) with `dueAt <= now`: resumed, no concurrency check;
 *   (b) `running` runs whose lease expired (`leaseExpiresAt < now`): `recoveries + 1`, `attempt + 1`,
 *       answered with `recovered: true`;
 *   (c) `pending` runs with `dueAt <= now`, whose `after` run (if any) is finished or missing,
 *       whose definition is not disabled, while the definition's running count (parked included)
 *       stays below the slot's `concurrency`: `attempt + 1`.
 *   Only definitions named in `slots` are considered, each up to its `max`. A pending or parked
 *   run with a `targetNodeId` is claimed only by that node; an expired lease by any node (the
 *   engine decides: an inline run of a dead node fails with NODE_LOST). A run whose id is below
 *   its definition's restart cut-off (see `restartDefinition`) comes back with `abortRequested`.
 * - **Claim order**: one order, the same in every storage, given on `claimRuns`.
 * - **Idempotency keys**: at most one unfinished run per `(definitionId, key)`. `insertRuns` returns
 *   the existing unfinished run (`created: false`) instead of inserting a second one, even when
 *   many processes insert the same key at once. A finished run frees its key.
 * - **Ids** are given by the caller (time-ordered); `listRuns` is newest first (id descending),
 *   `listLogs` oldest first; cursors are opaque strings; `limit` defaults to 50.
 * - **Values** round-trip as JSON: what was stored is what is read (objects, arrays, numbers,
 *   strings, booleans, null). Objects come back as plain objects.
 * - **Batches**: the array methods apply each item independently and atomically; an adapter is
 *   free (and encouraged) to group them in one transaction.
 *
 * Not required: exactly-once anything (recovery is at-least-once), cross-process notifications
 * (that is the distribution's job).
 */
export interface RunStorage {
  readonly capabilities: StorageCapabilities;

  /**
   * connects and migrates; refuses a schema newer than the code with SchemaTooNewError. Called
   * again after `close()` (the engine closes on stop and reopens on start), it reopens.
   */
  init(): Promise<void>;
  close(): Promise<void>;

  insertRuns(runs: RunRecord[]): Promise<Array<{ run: RunRecord; created: boolean }>>;
  getRun(id: string): Promise<RunRecord | null>;
  getRuns(ids: string[]): Promise<RunRecord[]>;
  /**
   * The ended runs among `ids` (whole records) and the ids not stored at all; runs that have not
   * ended are left out. wait() asks this as it begins, and most waited runs have not ended yet:
   * an adapter answers from statuses without reading their rows. A run reported ended stays ended;
   * one that ends while this is answered may be left out (it is then reported by its finish).
   */
  getEndedRuns(ids: string[]): Promise<EndedRuns>;
  listRuns(query: StorageListRunsQuery): Promise<Page<RunRecord>>;
  findUnfinishedByKey(definitionId: string, key: string): Promise<RunRecord | null>;
  /** pending runs per definition id */
  countPending(): Promise<Map<string, number>>;

  /**
   * Claims what is claimable (see the interface's doc), in this order, which every storage follows
   * exactly. Within a definition: first the runs whose lease expired, by `id` (a lease without an
   * expiry counts as expired); then the parked runs that are due, by `dueAt`, then `id`; then the
   * pending runs that are due, by `id` alone, not by `dueAt` (a run delayed, or released back to
   * pending, keeps its place among the others, so `concurrency: 1` runs in trigger order). Each
   * definition takes at most its slot's `max`, in that order. Across definitions the batch is
   * spread round-robin in the order of `slots`: the first run of each definition, then the second
   * of each, and so on, so a deep queue of one definition never starves another; `limit` cuts the
   * last round short, the slots named first served first. A slot whose `max` is below 1 is
   * skipped; a definition named twice counts once, with its first slot that has room. The runs
   * come back in this order.
   */
  claimRuns(request: ClaimRequest): Promise<RunRecord[]>;
  updateIterations(updates: IterationUpdate[]): Promise<UpdateResult[]>;
  /** extends the leases held by `nodeId` to now + leaseMs */
  renewLeases(nodeId: string, leases: LeaseRenewal[], now: number, leaseMs: number): Promise<RenewResult>;
  /**
   * Pending or parked: ends `aborted` at once (error `{ message, code: 'ABORTED' }`, finishedOn).
   * Running under a lease: sets `abortRequested`. Finished: unchanged.
   */
  requestAbort(id: string, message: string, now: string): Promise<AbortResult>;
  /** progress of a running run (last write wins; no lease check needed) */
  saveProgress(id: string, progress: RunProgress): Promise<void>;

  /** appends log lines; lines beyond `maxPerRun` for a run are dropped. Returns how many were kept. */
  appendLogs(logs: RunLog[], maxPerRun: number): Promise<number>;
  listLogs(query: ListLogsQuery): Promise<Page<RunLog>>;

  getValue(runId: string, key: string): Promise<unknown | undefined>;
  setValue(runId: string, key: string, value: unknown): Promise<void>;

  /** ids of disabled definitions */
  getDisabledDefinitions(): Promise<Set<string>>;
  setDefinitionDisabled(definitionId: string, disabled: boolean): Promise<void>;

  /** insert-if-absent of (scheduleId, tick): true for the one caller that recorded it first */
  recordScheduleTick(scheduleId: string, tick: string): Promise<boolean>;
  /**
   * The latest tick recorded for the schedule (ISO strings compare in time order), or null when
   * none is. Adapters may forget old ticks, never the latest.
   */
  lastScheduleTick(scheduleId: string): Promise<string | null>;

  /** deletes finished runs (and their logs and values) finished before `before`; returns how many */
  deleteFinishedBefore(before: string, limit: number): Promise<number>;

  /**
   * Deletes a finished run with its descendants (children, their children, ...: `parentId`
   * links), their logs and values, in one atomic step. Refused (`unfinished`, nothing deleted)
   * while the run or any descendant has not ended.
   */
  deleteRun(id: string): Promise<DeleteRunResult>;

  /** a definition's local: `{ value: undefined, version: 0 }` when never written */
  readLocal(definitionId: string, key: string): Promise<LocalEntry>;
  /**
   * Writes (or deletes, `value` undefined) a definition's local, atomically: with
   * `expectedVersion`, only while the key is at that version (`conflict` otherwise, nothing
   * written), so read-modify-write loops never lose a write across processes; with `writerRunId`,
   * refused (`restarted`) when the definition's restart cut-off is above that id. A delete keeps
   * the key's version (it grows), so a stale compare-and-set never matches a key deleted and
   * written again. Answers the new version.
   */
  writeLocal(write: LocalWrite): Promise<LocalWriteResult>;
  /** the definition's locals that are set, by key */
  listLocals(definitionId: string): Promise<Map<string, unknown>>;
  /**
   * `TaskService.restart()`'s storage step, atomic: records `cutoff` (a run id) as the
   * definition's restart cut-off (kept when a higher one is recorded already) and clears its
   * locals (their versions grow). From then on, runs of the definition whose id is below the
   * cut-off come back from a claim with `abortRequested` set, and their local writes are refused.
   * A local write that was under way is either cleared or refused, never kept. Answers how many
   * locals were cleared.
   */
  restartDefinition(definitionId: string, cutoff: string): Promise<{ localsCleared: number }>;
  /**
   * The definition's unfinished runs with an id below `before`, at most `limit` of them (oldest
   * first), each as `requestAbort` would: pending and parked ones end `aborted` at once, running
   * ones under a lease get `abortRequested` (those that had it already are left out). Called again
   * until it answers nothing, it reaches every such run.
   */
  abortDefinitionRuns(request: AbortRunsRequest): Promise<AbortRunsResult>;

  /**
   * Optional (`capabilities.transactions`): the storage seen through a host's open transaction,
   * for one transactional trigger. Runs inserted through the session are written on the host's
   * connection (never through the engine's insert batcher), so they commit or roll back with the
   * host's own writes; the key and id rules of `insertRuns` hold as they do for `insertRuns`.
   *
   * Must throw TransactionRefusedError at once, synchronously and before anything is written,
   * for a handle it cannot use: a handle of another kind (a pg client given to SQLite, a
   * better-sqlite3 Database given to PostgreSQL, a pool), a closed one, one not in a transaction,
   * one on another database when that can be told. Checks that need a round trip belong in
   * `begin()`, which refuses the same way.
   */
  openTransaction?(tx: HostTransaction): TransactionSession;
}
