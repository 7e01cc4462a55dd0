import type { RetryPolicy } from '../api/retry-policy';
import type { TaskRun } from '../api/types';

/**
 * A run as storage keeps it: the public {@link TaskRun} plus the fields the engine and the
 * distribution need. Adapters persist every field and give it back unchanged.
 */
export interface RunRecord extends TaskRun {
  /** epoch ms from which the run (pending) or its next iteration (running, parked) may be claimed */
  dueAt: number;
  /** only this node may claim the run while it is pending (distributable: false, inline) */
  targetNodeId?: string;
  /** set while an iteration holds the run; every change made under a lease checks it */
  leaseToken?: string;
  /** epoch ms; a running run whose lease expired is taken up again by a live node */
  leaseExpiresAt?: number;
  /** an abort was asked while the run was running */
  abortRequested: boolean;
  /** times the run was taken up again after its lease expired */
  recoveries: number;
  /**
   * Set only on a record `claimRuns` answers, when that claim took the run up after its lease
   * expired (its `recoveries` grew): the engine counts the recovery when it happens. Not stored.
   */
  recovered?: true;
  /** persisted log lines of this run */
  logCount: number;
  /** the run's own retry policy (`trigger({ retry })`), overriding its definition's */
  retryPolicy?: RetryPolicy;
  /**
   * the input the run was triggered with, kept by storage the first time an update changes
   * `input` (a `continue()` patch): `TaskService.retry(id)` starts from it. Absent while `input`
   * is still the original.
   */
  originalInput?: unknown;
  /**
   * `iterations` when the run last went back to pending for a retry (0 before any): the current
   * execution has made `iterations - iterationBase` calls of run(), each execution having its own
   * `maxIterations`
   */
  iterationBase: number;
}
