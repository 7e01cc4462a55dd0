import { InvalidArgumentError } from '../../../api/errors';
import type { Page, RunStatus } from '../../../api/types';
import type { RunRecord } from '../../../ports/run-record';
import type { StorageListRunsQuery } from '../../../ports/storage';
import { clampLimit, storable } from './column-values';
import type { StorageConnections } from './connections';
import { cols, toRecord, type RunRow } from './run-row';

/** fixed SQL fragments per status (listRuns by definition picks among them) */
const STATUS_PREDICATE: Record<RunStatus, string> = {
  pending: `status = 'pending'`,
  running: `status = 'running'`,
  success: `status = 'success'`,
  failed: `status = 'failed'`,
  aborted: `status = 'aborted'`,
};

/** the statuses each partial index of migration 2 covers, with its predicate */
const STATUS_GROUPS: ReadonlyArray<{ statuses: RunStatus[]; predicate: string; fence?: boolean }> = [
  { statuses: ['pending'], predicate: `status = 'pending'` },
  { statuses: ['running'], predicate: `status = 'running'`, fence: true },
  { statuses: ['success', 'failed', 'aborted'], predicate: `status in ('success', 'failed', 'aborted')` },
];

/**
 * Newest first (id descending). The statement is put together from fixed fragments; every value
 * is a parameter.
 */
export async function listRuns(db: StorageConnections, query: StorageListRunsQuery): Promise<Page<RunRecord>> {
  const limit = clampLimit(query.limit);
  // text PostgreSQL cannot hold matches no stored run (and cannot be sent): an empty page
  if (
    (query.definition !== undefined && !storable(query.definition)) ||
    (query.parentId !== undefined && !storable(query.parentId)) ||
    (query.tenant !== undefined && !storable(query.tenant))
  )
    return { items: [] };
  if (query.cursor !== undefined && !storable(query.cursor)) throw new InvalidArgumentError('Invalid run cursor: it was not returned by listRuns.');
  const s = db.s;
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown): string => {
    params.push(value);
    return `$${params.length}`;
  };
  const statuses = query.status === undefined ? undefined : Array.isArray(query.status) ? query.status : [query.status];
  if (query.parentId !== undefined) where.push(`parent_id = ${param(query.parentId)}`);
  if (query.tenant !== undefined) where.push(`tenant = ${param(query.tenant)}`);
  if (query.scheduled === true) where.push('scheduled_for is not null');
  if (query.scheduled === false) where.push('scheduled_for is null');
  if (query.cursor !== undefined && query.cursor !== '') where.push(`id < ${param(query.cursor)}`);
  let sql: string;
  if (query.definition !== undefined) {
    // one branch per status group, each served in id order by its partial index (there is no
    // index on all of a definition's runs: see migration 2), merged newest first
    where.unshift(`definition_id = ${param(query.definition)}`);
    const wanted = (st: RunStatus) => statuses === undefined || statuses.includes(st);
    const branches: string[] = [];
    for (const group of STATUS_GROUPS) {
      const members = group.statuses.filter(wanted);
      if (members.length === 0) continue;
      const status = members.length === group.statuses.length ? group.predicate : members.map((m) => STATUS_PREDICATE[m]).join(' or ');
      // the running index is keyed by lease expiry, not id: `offset 0` keeps the planner from
      // walking the primary key backwards in search of the definition's running runs
      branches.push(
        group.fence
          ? `(select * from (select ${cols()} from ${s}.runs where ${where.join(' and ')} and (${status}) offset 0) as f order by id desc limit ${param(limit + 1)})`
          : `(select ${cols()} from ${s}.runs where ${where.join(' and ')} and (${status}) order by id desc limit ${param(limit + 1)})`,
      );
    }
    if (branches.length === 0) return { items: [] };
    sql = `select * from (${branches.join(' union all ')}) as u order by id desc limit ${param(limit + 1)}`;
  } else {
    if (statuses !== undefined) where.push(`status = any(${param(statuses)}::text[])`);
    sql = `select ${cols()} from ${s}.runs
    ${where.length ? `where ${where.join(' and ')}` : ''}
    order by id desc limit ${param(limit + 1)}`;
  }
  const rows = await db.exec('read', 'listRuns', async (client) => (await client.query<RunRow>(sql, params)).rows);
  const items = rows.slice(0, limit).map(toRecord);
  return rows.length > limit ? { items, cursor: items[items.length - 1].id } : { items };
}
