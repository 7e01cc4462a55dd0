import type { Distribution } from '../../ports/distribution';
import type { RunStorage } from '../../ports/storage';
import { newRunId } from '../../util/ids';
import type { RunAborts } from '../abort/run-aborts';
import type { StatsTracker } from '../observation/stats-tracker';
import type { EngineClock } from '../runtime/engine-clock';
import type { StorageGate } from '../runtime/storage-gate';
import type { WriteBatches } from '../runtime/write-batches';

/** runs a restart changes per storage call */
const RESTART_PAGE = 200;
/**
 * restart() returns at least this long (engine time) after its cut-off: a run triggered after it
 * returned, on a node whose reading of the shared clock is this much behind, still gets a later id
 */
const RESTART_CLOCK_MARGIN_MS = 10;

/** What `TaskService.restart()` did. */
export interface RestartResult {
  definitionId: string;
  /** pending (or parked) runs that ended `aborted` at once, `onAbort` called for each */
  aborted: number;
  /** running runs whose abort was requested: they end at their next checkpoint (the normal abort path) */
  abortRequested: number;
  /** locals that were set and are now cleared */
  localsCleared: number;
}

/** what a restart reads, aborts and tells */
export interface DefinitionRestartDeps {
  gate: StorageGate;
  clock: EngineClock;
  storage: RunStorage;
  distribution: Distribution;
  batches: WriteBatches;
  aborts: RunAborts;
  stats: StatsTracker;
}

/**
 * `TaskService.restart()` of a checked definition id with its message (see there): the cut-off
 * recorded first, the runs below it aborted page by page (their children too), stats reset here
 * and, through the distribution, on the other nodes.
 */
export async function restartDefinition(deps: DefinitionRestartDeps, definitionId: string, message: string): Promise<RestartResult> {
  await deps.gate.ready();
  const cutoffMs = deps.clock.now();
  const cutoff = newRunId(cutoffMs);
  // this node's triggers made before the cut-off are stored before the sweep looks for them
  await deps.batches.inserts.drain();
  const { localsCleared } = await deps.storage.restartDefinition(definitionId, cutoff);
  let aborted = 0;
  let abortRequested = 0;
  for (;;) {
    const page = await deps.storage.abortDefinitionRuns({ definitionId, before: cutoff, message, now: deps.clock.nowIso(), limit: RESTART_PAGE });
    if (page.aborted.length === 0 && page.requested.length === 0) break;
    aborted += page.aborted.length;
    abortRequested += page.requested.length;
    const results = [...page.aborted.map((run) => ({ kind: 'aborted' as const, run })), ...page.requested.map((run) => ({ kind: 'requested' as const, run }))];
    await Promise.all(
      results.map(async (result) => {
        await deps.aborts.settle(result, message);
        // a run that never started has no children to abort
        if (result.run.iterations > 0) await deps.aborts.abortChildren(result.run.id, message);
      }),
    );
  }
  deps.stats.reset(definitionId);
  await deps.distribution.publishRestart(definitionId);
  const left = cutoffMs + RESTART_CLOCK_MARGIN_MS - deps.clock.now();
  if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
  return { definitionId, aborted, abortRequested, localsCleared };
}
