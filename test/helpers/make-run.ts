import type { RunRecord } from '../../src/ports/run-record';
import { newRunId } from '../../src/util/ids';

/**
 * A pending run record as the engine would insert it, with every required field set:
 * a fresh time-ordered id, status `pending`, counters at 0, `dueAt: 0` (claimable at once),
 * `createdOn` now, `name` = the definition id (default `test.def`), `input: {}`.
 * Anything in `partial` wins (an explicit `id` included).
 */
export function makeRun(partial: Partial<RunRecord> = {}): RunRecord {
  const definitionId = partial.definitionId ?? 'test.def';
  return {
    definitionId,
    name: definitionId,
    status: 'pending',
    input: {},
    iterations: 0,
    attempt: 0,
    retries: 0,
    iterationBase: 0,
    recoveries: 0,
    logCount: 0,
    abortRequested: false,
    dueAt: 0,
    createdOn: new Date().toISOString(),
    ...partial,
    id: partial.id ?? newRunId(),
  };
}
