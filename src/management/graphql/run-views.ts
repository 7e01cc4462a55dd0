import type { DefinitionInfo } from '../../api/task-options';
import type { DefinitionStats, Page, TaskRun } from '../../api/types';
import type { Principal } from '../auth/principal';

/** whether `principal` may see `run`: no tenant, or the run's context.tenant is its tenant */
export function visibleTo(principal: Principal, run: TaskRun | null): run is TaskRun {
  return run !== null && (principal.tenant === undefined || run.context?.tenant === principal.tenant);
}

/** pages read at most to find a tenant's runs for one answer (a page may then be short, or empty with a cursor) */
const MAX_PAGES_SCANNED = 20;

/**
 * A page of runs the principal may see. Without a tenant it is storage's page. With one, runs of
 * other tenants are left out (storage has no index on context.tenant): pages are read until one
 * holds a visible run or MAX_PAGES_SCANNED were read; the answer's cursor continues after the last.
 */
export async function visiblePage(
  principal: Principal,
  read: (cursor: string | undefined) => Promise<Page<TaskRun>>,
  after: string | undefined,
): Promise<Page<TaskRun>> {
  let cursor = after;
  for (let pages = 0; ; pages++) {
    const page = await read(cursor);
    const items = principal.tenant === undefined ? page.items : page.items.filter((r) => visibleTo(principal, r));
    cursor = page.cursor;
    if (items.length > 0 || cursor === undefined || pages + 1 >= MAX_PAGES_SCANNED) return cursor === undefined ? { items } : { items, cursor };
  }
}

/** a definition as TaskDefinitionInfo resolves it (inputSchema is a field resolver) */
export function definitionView(info: DefinitionInfo, stats: DefinitionStats | undefined, principal: Principal): Record<string, unknown> {
  const status = info.state === 'fault' ? 'fault' : info.state === 'disabled' ? 'disabled' : (stats?.status ?? 'idle');
  return {
    id: info.id,
    title: info.title,
    description: info.description ?? null,
    isPrivate: info.isPrivate,
    distributable: info.distributable,
    concurrency: info.concurrency ?? null,
    maxIterations: info.maxIterations,
    iterationTimeout: info.iterationTimeout,
    maxBacklog: info.maxBacklog ?? null,
    status,
    faultReason: info.faultReason ?? null,
    schedule: info.schedule ? { cron: info.schedule.cron, timezone: info.schedule.timezone ?? null } : null,
    hasInput: info.hasInput,
    stats: stats ? statsView(stats, principal) : null,
  };
}

/** a stats row; a tenant's principal does not see lastError (it may be another tenant's run's) */
export function statsView(row: DefinitionStats, principal: Principal): DefinitionStats {
  if (principal.tenant === undefined || row.lastError === undefined) return row;
  const { lastError: _hidden, ...rest } = row;
  return rest;
}
