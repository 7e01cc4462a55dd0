import type { RunSummary, TaskEvent } from '../api/types';

/**
 * What one event says about its run: the run as the event carries it, with the reported progress
 * for `progress` events (the run snapshot of a progress event may predate the report).
 */
export function runFromEvent(event: TaskEvent): RunSummary {
  if (event.type === 'progress' && event.progress !== undefined && event.progress !== null) {
    return { ...event.run, progress: event.progress };
  }
  return event.run;
}

/**
 * Merges two updates of one run that arrived within the same frame: the later wins, but a later
 * snapshot without progress keeps the progress last reported while the run is still running.
 */
export function mergeRunUpdate(previous: RunSummary | undefined, next: RunSummary): RunSummary {
  if (!previous) return next;
  if ((next.progress === null || next.progress === undefined) && next.status === 'running') {
    return { ...next, progress: previous.progress };
  }
  return next;
}

export interface RunsFilter {
  definitionId?: string;
  status?: string;
  parentId?: string;
}

/**
 * The rows of a runs page once a frame's updates are applied: rows shown are updated in place
 * (they stay where they are, even when their new status leaves the filter: rows jumping away
 * under the pointer are worse than a row that reads `success` under a `running` filter); runs not
 * shown are added on top only on the first page (newest first) when they match the filter and are
 * newer than every row shown, and the page is cut back to its size.
 */
export function applyRunUpdates(
  rows: readonly RunSummary[],
  updates: ReadonlyMap<string, RunSummary>,
  filter: RunsFilter,
  firstPage: boolean,
  limit: number,
): RunSummary[] {
  const remaining = new Map(updates);
  const next = rows.map((row) => {
    const update = remaining.get(row.id);
    if (!update) return row;
    remaining.delete(row.id);
    return mergeRunUpdate(row, update);
  });
  if (!firstPage || remaining.size === 0) return next;
  // a run older than the newest row shown belongs further down (another page): only new runs go on top
  const newest = rows.length > 0 ? rows[0].createdOn : '';
  const fresh = [...remaining.values()]
    .filter((run) => matches(run, filter) && run.createdOn >= newest)
    .sort((a, b) => (a.createdOn < b.createdOn ? 1 : a.createdOn > b.createdOn ? -1 : 0));
  if (fresh.length === 0) return next;
  return [...fresh, ...next].slice(0, limit);
}

function matches(run: RunSummary, filter: RunsFilter): boolean {
  if (filter.definitionId && run.definitionId !== filter.definitionId) return false;
  if (filter.status && run.status !== filter.status) return false;
  if (filter.parentId && run.parentId !== filter.parentId) return false;
  return true;
}
