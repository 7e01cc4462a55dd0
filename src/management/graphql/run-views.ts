import type { DefinitionInfo } from '../../api/task-options';
import type { DefinitionStats, ListRunsQuery, Page, TaskRun } from '../../api/types';
import type { TaskService } from '../../core/service/task-service';
import type { Principal } from '../auth/principal';

/** whether `principal` may see `run`: no tenant, or the run's context.tenant is its tenant */
export function visibleTo(principal: Principal, run: TaskRun | null): run is TaskRun {
  return run !== null && (principal.tenant === undefined || run.context?.tenant === principal.tenant);
}

/**
 * The listRuns query that reads only what the principal may see: a principal with a tenant reads
 * its tenant's runs (storage filters them, so pages are full); a `tenant` asked for beside it
 * that is not its own matches nothing. Without one, the `tenant` asked for, if any.
 */
function visibleQuery(principal: Principal, query: ListRunsQuery): ListRunsQuery | null {
  if (principal.tenant === undefined) return query;
  if (query.tenant !== undefined && query.tenant !== principal.tenant) return null;
  return { ...query, tenant: principal.tenant };
}

/** listRuns as the principal may see it (see {@link visibleQuery}) */
export async function visiblePage(principal: Principal, service: Pick<TaskService, 'listRuns'>, query: ListRunsQuery): Promise<Page<TaskRun>> {
  const visible = visibleQuery(principal, query);
  return visible === null ? { items: [] } : service.listRuns(visible);
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
