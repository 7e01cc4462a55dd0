import { InvalidArgumentError } from '../../api/errors';
import type { ListLogsQuery, ListRunsQuery } from '../../api/types';
import { safeGet } from '../../util/safe-string';
import { assertRunName, TASK_ID_MAX_LENGTH, TASK_ID_PATTERN } from '../validation/identifiers';

/** The checks of TaskService's arguments that are not run ids, inputs or durations. */

export function checkLimit(limit: unknown): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError('limit must be an integer between 1 and 1000');
  }
  return limit;
}

export const ABORT_KEYS: ReadonlySet<'id' | 'message'> = new Set(['id', 'message'] as const);
export const RESTART_KEYS: ReadonlySet<'message'> = new Set(['message'] as const);
export const WAIT_KEYS: ReadonlySet<'timeout'> = new Set(['timeout'] as const);
export const LIST_RUNS_KEYS: ReadonlySet<keyof ListRunsQuery> = new Set<keyof ListRunsQuery>(['definition', 'status', 'parentId', 'tenant', 'limit', 'cursor']);
export const LIST_LOGS_KEYS: ReadonlySet<keyof ListLogsQuery> = new Set<keyof ListLogsQuery>(['runId', 'limit', 'cursor']);
export const LIST_DEFINITIONS_KEYS: ReadonlySet<'includePrivate'> = new Set(['includePrivate'] as const);
/** what listLogs answers as cursors (a line's sequence number) */
export const LOG_CURSOR = /^\d{1,18}$/;

/** a string some registered definition, or runInline's `inline`, could have as its id */
export function couldBeDefinitionId(id: string): boolean {
  return id.length <= TASK_ID_MAX_LENGTH && TASK_ID_PATTERN.test(id);
}

/** runInline's run name: the function's name when it is a valid run name, else `inline` */
export function inlineName(fn: unknown): string {
  const name = safeGet(fn, 'name');
  if (typeof name !== 'string' || name === '') return 'inline';
  try {
    return assertRunName(name.slice(0, 128));
  } catch {
    return 'inline';
  }
}

export function checkCursor(cursor: unknown): string | undefined {
  if (cursor === undefined) return undefined;
  if (typeof cursor !== 'string' || cursor.length > 512) throw new InvalidArgumentError('cursor must be a string returned by a previous call');
  return cursor;
}
