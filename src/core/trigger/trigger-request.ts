import type { ChildTriggerOptions } from '../../api/controller';
import type { RetryPolicy } from '../../api/retry-policy';
import type { TaskContext, TaskRun } from '../../api/types';
import type { Distribution } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { RunStorage } from '../../ports/storage';
import type { HostTransaction, MaybePromise } from '../../ports/transaction';
import type { DefinitionRegistry, RegisteredDefinition } from '../definitions/definition-registry';
import type { ResolvedOptions } from '../options';
import type { EngineClock } from '../runtime/engine-clock';
import type { StorageGate } from '../runtime/storage-gate';
import type { WriteBatches } from '../runtime/write-batches';
import type { BacklogGate } from './backlog-gate';
import type { BacklogLimiter } from './backlog-limiter';
import type { TransactionWatch } from './transaction-watch';

/** What `TaskService.trigger()` accepts. */
export interface TriggerOptions<I = unknown> {
  /** a definition id or a task class */
  definition: string | (abstract new (...args: never[]) => unknown);
  input?: I;
  name?: string;
  /** ms to wait before the run may start */
  delay?: number;
  /** a run or run id: the new run's parentId */
  parent?: string | { id: string };
  /** a run id whose end this run waits for */
  after?: string;
  /** idempotency key: while a run of this definition with the key is unfinished, it is returned */
  key?: string;
  /** travels with the run; defaults to the one set by runWithContext() */
  context?: TaskContext;
  /**
   * this run's own retry policy (`{ attempts, backoff? }`, see RetryPolicy), overriding its
   * definition's; stored with the run, so whichever node executes it applies it
   */
  retry?: RetryPolicy;
  /**
   * The host's open transaction: the run is stored through it, so it exists only if the host
   * commits (enqueue in the same transaction as your business write). A `pg` `Client`/`PoolClient`
   * after `BEGIN` for `postgresStorage`; a better-sqlite3 `Database` on the same file, inside
   * `db.transaction(fn)` or after `BEGIN`, for `sqliteStorage`. Other storages and handles are
   * refused with `TransactionRefusedError`. See `TransactionalTrigger` for the details.
   */
  transaction?: HostTransaction;
}

/** what the engine adds to a trigger it makes itself: a schedule tick, a retry of a finished run */
export interface TriggerOrigin {
  /** the tick (ISO) */
  scheduledFor?: string;
  /** fired late, by a node that found it missed when it started */
  backfilled?: boolean;
  /** `TaskService.retry()`: the run retried (its context is the options' only, never the caller's) */
  retryOf?: string;
}

export type ChildTrigger = (options: ChildTriggerOptions, parent: RunRecord, parentAborted: boolean) => Promise<TaskRun>;

/** A trigger whose options passed validation. */
export interface TriggerRequest {
  def: RegisteredDefinition;
  /** the deep-frozen input instance (what onBeforeTrigger sees) */
  instance: unknown;
  /** the validated JSON copy that is stored */
  plain: unknown;
  name: string;
  delay: number;
  parentId?: string;
  after?: string;
  key?: string;
  context?: TaskContext;
  /** the run's own retry policy, checked */
  retry?: RetryPolicy;
  scheduledFor?: string;
  backfilled: boolean;
  retryOf?: string;
  /** the cluster must be asked whether a live node accepts the definition */
  eligible?: Promise<void>;
  hasHook: boolean;
  /** the definition's maxBacklog count; undefined (most definitions): no limit, nothing counted */
  gate?: BacklogGate;
  /** the host's transaction to store the run through (see TriggerOptions.transaction) */
  transaction?: HostTransaction;
}

/** what triggering reads, counts and stores through */
export interface TriggerDeps {
  options: ResolvedOptions;
  clock: EngineClock;
  gate: StorageGate;
  storage: RunStorage;
  distribution: Distribution;
  registry: DefinitionRegistry;
  backlog: BacklogLimiter;
  /** the grouped insert (see RunSubmission) */
  batches: WriteBatches;
  /** runs stored through host transactions, watched until their commit is seen */
  transactions: TransactionWatch;
}

/** The steps of the pipeline a trigger through a host transaction shares (see TransactionalTrigger). */
export interface TriggerSteps {
  /** the definition's onBeforeTrigger, when it has one (see TriggerPipeline.beforeTrigger) */
  beforeTrigger(request: TriggerRequest): MaybePromise<void>;
  /** the run a validated trigger stores */
  newRecord(request: TriggerRequest): RunRecord;
}
