import type { AcceptRules, RunError, RunProgress, RunStatus, TaskRun } from '../api/types';
import type { ClaimRequest, RunStorage } from './storage';
import type { RunRecord } from './run-record';
import type { HostTransaction, MaybePromise } from './transaction';

export interface DistributionCapabilities {
  /** several nodes (processes) cooperate: runs may execute away from where they were triggered */
  multiNode: boolean;
}

export interface NodeDescriptor {
  nodeId: string;
  version: string;
  accept: AcceptRules;
  /** ISO */
  startedOn: string;
  /** ISO, last heartbeat */
  heartbeatOn?: string;
}

/** A run that became claimable: new, delayed, continued, released, or unblocked. */
export interface RunnableNotice {
  id: string;
  definitionId: string;
  /** epoch ms */
  dueAt: number;
}

export interface FinishedNotice {
  id: string;
  definitionId: string;
  status: RunStatus;
  /**
   * The run as it ended. A distribution may carry it to the other nodes (small runs) or leave it
   * out (large ones): a node that gets it resolves its waiters without reading storage.
   */
  run?: TaskRun;
}

/** The run events one node relays to others for live views (the end events travel as FinishedNotice). */
export type RelayedEventType = 'submitted' | 'started' | 'progress' | 'iteration' | 'retrying';

/** One run event of another node (see Distribution.publishRunEvents). */
export interface RunEventNotice {
  type: RelayedEventType;
  runId: string;
  definitionId: string;
  /** the run when the event happened; left out of large runs (the receiver reads the run) */
  run?: TaskRun;
  /** with `progress` events */
  progress?: RunProgress;
  /** with `retrying` events: the error the run is retried after */
  error?: RunError;
}

/**
 * Which runs' events a node wants from the others: all of them, or those of some definitions or
 * runs (bounded lists; a longer one is sent as `all`).
 */
export interface EventInterest {
  all: boolean;
  definitions: string[];
  runs: string[];
}

/** A reading of the shared store's clock (see DistributionHost.clockSample). */
export interface ClockSample {
  /** the store's time, epoch ms */
  storeMs: number;
  /** `performance.now()` when the store read its clock: the midpoint of the round trip */
  monotonicMs: number;
  /** how long the round trip took: the reading is uncertain by half of it */
  roundTripMs: number;
}

/** What the engine hands the distribution when it starts. */
export interface DistributionHost {
  node: NodeDescriptor;
  storage: RunStorage;
  /** the engine's clock (epoch ms): `dueAt` values are in its time */
  now(): number;
  /**
   * A reading of the shared store's clock (epoch ms) taken at `monotonicMs` (this process's
   * `performance.now()`, the midpoint of the round trip that read it). From the first one on, the
   * engine keeps its time (`now()`: due times, leases, schedule ticks) in the store's, counted on
   * the monotonic clock: nodes whose clocks disagree, or jump, still agree on when a run is due
   * and when a lease has expired.
   */
  clockSample?(sample: ClockSample): void;
  /** runnable work may exist now: claim */
  wake(): void;
  /** an abort was asked for this run somewhere in the cluster */
  abortRequested(runId: string): void;
  /** a run ended somewhere in the cluster (its record is in storage) */
  finished(notice: FinishedNotice): void;
  /**
   * False while nothing on this node waits for a run or listens to run ends: a distribution may
   * then skip decoding the finish notices of other nodes (calling `wake()` instead, as a finish can
   * free a concurrency slot or an `after`). Absent: every notice is wanted.
   */
  wantsFinished?(): boolean;
  /**
   * `TaskService.restart()` was called for this definition on another node: this node's stats of
   * it start again from zero
   */
  definitionRestarted(definitionId: string): void;
  /** a fault the distribution recovered from (logged; never thrown at the host) */
  error(error: Error): void;
  /**
   * What the other live nodes want of this node's run events (their interests merged), or null
   * when none wants any. Called when it changes (see Distribution.setEventInterest).
   */
  eventInterest?(interest: EventInterest | null): void;
  /** run events another node published because this node said it wants them */
  runEvents?(notices: RunEventNotice[]): void;
}

/**
 * Distribution: who runs what and when, and the signals between nodes.
 *
 * Every implementation guarantees:
 * - `claim()` hands a node runs it may execute, under a lease, within the request's slots
 *   (by default through `storage.claimRuns`).
 * - `runnable()` leads to a `wake()` on some node that accepts the definition once `dueAt` has
 *   come (a delayed run needs no per-run timer in the engine); a slow safety poll may back it up.
 * - `publishAbort()` reaches `abortRequested()` on every node within 100 ms while the link is up;
 *   the abort is also persisted by storage, so a node that missed it learns it at its next lease
 *   renewal.
 * - `publishFinished()` reaches `finished()` on every node (the publishing one included), so
 *   `wait()`, `result()` and events work wherever they were called.
 * - `publishRestart()` reaches `definitionRestarted()` on every other node within 100 ms while the
 *   link is up (the publishing node resets its own stats). It is a signal, not a record: what a
 *   restart changes in storage (runs aborted, locals cleared, the cut-off) does not depend on it.
 * - `liveNodes()` lists nodes with a recent heartbeat, this one included.
 * - A lost connection is re-established by the distribution itself and reported through
 *   `host.error`, never thrown at the host.
 *
 * Not required: exactly-once delivery of notices (the engine tolerates duplicates and misses:
 * claims are atomic and a poll backs up wake-ups).
 */
export interface Distribution {
  readonly capabilities: DistributionCapabilities;
  start(host: DistributionHost): Promise<void>;
  stop(): Promise<void>;
  runnable(notices: RunnableNotice[]): void;
  /**
   * Optional: the wake-up for runs just stored through a host's transaction, sent through that
   * same transaction so that it is delivered when, and only if, the host commits (PostgreSQL's
   * NOTIFY). Answers true when it did so: every node that accepts the definition, this one
   * included, is then woken at commit. Answers false (synchronously, when it can tell at once)
   * for a transaction it cannot use; the engine then calls `runnable()` once it sees the runs
   * committed. A failure is thrown: the host's transaction may be unusable after it.
   */
  runnableInTransaction?(tx: HostTransaction, notices: RunnableNotice[]): MaybePromise<boolean>;
  claim(request: ClaimRequest): Promise<RunRecord[]>;
  publishAbort(runId: string): Promise<void>;
  publishFinished(notices: FinishedNotice[]): Promise<void>;
  /** tells the other nodes that `TaskService.restart()` restarted this definition */
  publishRestart(definitionId: string): Promise<void>;
  liveNodes(): Promise<NodeDescriptor[]>;

  /**
   * Optional (multi-node distributions): live run events between nodes, for operators' live
   * views (the management API's `backgroundTaskEvents`). A node only hears other nodes' run ends
   * otherwise; `submitted`, `started`, `progress` and `iteration` of runs executing elsewhere reach
   * it only through these.
   *
   * - `setEventInterest(interest)`: this node wants the events of these runs (null: none any more).
   *   The distribution tells every live node, again at each heartbeat while it is set, and the
   *   interest lapses on a node that stops hearing it (this node died) within its node TTL.
   * - A node learns the merged interest of the others through `host.eventInterest()`: the engine
   *   publishes events (`publishRunEvents`) only while it is not null, so that a cluster nobody
   *   watches pays nothing for this on the hot path. A node that starts learns the current
   *   interests at the interested nodes' next heartbeat.
   * - `publishRunEvents(notices)`: fire and forget, batched; the receiver gets them through
   *   `host.runEvents()`. Not guaranteed: delivery (a notice may be lost with a link), nor order
   *   relative to the finish notices; live views read the run when they need the truth.
   */
  setEventInterest?(interest: EventInterest | null): void;
  publishRunEvents?(notices: RunEventNotice[]): void;
}
