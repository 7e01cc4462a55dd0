import type Database from 'better-sqlite3';
import type { Page } from '../../../api/types';
import type { RunRecord } from '../../../ports/run-record';
import type { StorageListRunsQuery } from '../../../ports/storage';
import { pageLimit } from '../../shared/paging';
import { RUN_SELECT, toRecord, type RunRow } from '../run-row';

export type ListRuns = (query: StorageListRunsQuery) => Page<RunRecord>;

/**
 * Runs newest first, filtered. The WHERE clause is assembled from constant fragments only; every
 * value is a parameter. One prepared statement per combination of filters (a handful), kept.
 */
export function prepareListRuns(db: Database.Database): ListRuns {
  const statements = new Map<string, Database.Statement<unknown[], RunRow>>();
  const statementFor = (sql: string): Database.Statement<unknown[], RunRow> => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare<unknown[], RunRow>(sql).raw();
      statements.set(sql, statement);
    }
    return statement;
  };
  return (query) => {
    const limit = pageLimit(query.limit);
    const where: string[] = [];
    const params: unknown[] = [];
    if (query.definition !== undefined) {
      where.push('definition_id = ?');
      params.push(query.definition);
    }
    if (query.status !== undefined) {
      if (Array.isArray(query.status)) {
        where.push('status IN (SELECT value FROM json_each(?))');
        params.push(JSON.stringify(query.status));
      } else {
        where.push('status = ?');
        params.push(query.status);
      }
    }
    if (query.parentId !== undefined) {
      where.push('parent_id = ?');
      params.push(query.parentId);
    }
    if (query.tenant !== undefined) {
      // served by tasklane_runs_tenant (migration 4): the expression is written as in the index
      // (json_extract answers an object or array as its JSON text: only a string tenant matches)
      where.push(`json_extract(context, '$.tenant') = ? AND json_type(context, '$.tenant') = 'text'`);
      params.push(query.tenant);
    }
    if (query.scheduled !== undefined) where.push(query.scheduled ? 'scheduled_for IS NOT NULL' : 'scheduled_for IS NULL');
    if (query.cursor !== undefined) {
      where.push('id < ?');
      params.push(query.cursor);
    }
    const sql = `SELECT ${RUN_SELECT} FROM tasklane_runs${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    params.push(limit + 1);
    const rows = statementFor(sql).all(...params);
    const more = rows.length > limit;
    const items = (more ? rows.slice(0, limit) : rows).map(toRecord);
    return more ? { items, cursor: items[items.length - 1].id } : { items };
  };
}
