import type { RunRecord } from '../../../ports/run-record';
import { exactText, intMs, isoToMs, jsonText, storable } from './column-values';
import { compareText } from './compare-text';
import { pgScalarArray, pgTextArray } from './pg-arrays';

/** A run as the values of {@link INSERT_COLUMNS}, in that order (JSON fields as JSON text). */
export type InsertRow = Array<string | number | boolean | null>;

export interface InsertColumn {
  name: string;
  sqlType: 'text' | 'bigint' | 'integer' | 'boolean';
  /** sent as text, stored as json */
  json?: boolean;
  /** left out of the statement when every row of the batch has `fallback` (the column's default) */
  optional: boolean;
  fallback: string | number | boolean | null;
  array(values: InsertRow): string;
}

function col(name: string, sqlType: InsertColumn['sqlType'], optional: boolean, fallback: InsertColumn['fallback'] = null, json = false): InsertColumn {
  const array =
    sqlType === 'text' ? (v: InsertRow) => pgTextArray(v as Array<string | null>) : (v: InsertRow) => pgScalarArray(v as Array<number | boolean | null>);
  return { name, sqlType, json, optional, fallback, array };
}

/**
 * Columns of an insert, in the order of {@link toInsertRow}; defaults as in the table. An insert
 * row is an array (not an object by column name) because the insert statement is built column by
 * column over the whole batch (see InsertStatements): each column's values become one array.
 */
export const INSERT_COLUMNS: readonly InsertColumn[] = [
  col('id', 'text', false),
  col('definition_id', 'text', false),
  col('name', 'text', false),
  col('status', 'text', false),
  col('input', 'text', true, null, true),
  col('output', 'text', true, null, true),
  col('error', 'text', true, null, true),
  col('progress', 'text', true, null, true),
  col('iterations', 'integer', true, 0),
  col('attempt', 'integer', true, 0),
  col('parent_id', 'text', true),
  col('key', 'text', true),
  col('context', 'text', true, null, true),
  col('after_id', 'text', true),
  col('run_at', 'text', true),
  col('scheduled_for', 'text', true),
  col('created_on', 'text', false),
  col('started_on', 'text', true),
  col('finished_on', 'text', true),
  col('finished_at', 'bigint', true),
  col('node_id', 'text', true),
  col('due_at', 'bigint', false),
  col('target_node_id', 'text', true),
  col('lease_token', 'text', true),
  col('lease_expires_at', 'bigint', true),
  col('abort_requested', 'boolean', true, false),
  col('recoveries', 'integer', true, 0),
  col('log_count', 'integer', true, 0),
  col('backfilled', 'boolean', true, false),
  col('retries', 'integer', true, 0),
  col('retry_of', 'text', true),
  col('retry_policy', 'text', true, null, true),
  col('original_input', 'text', true, null, true),
  col('iteration_base', 'integer', true, 0),
  col('tenant', 'text', true),
];

function columnIndex(name: string): number {
  const i = INSERT_COLUMNS.findIndex((c) => c.name === name);
  if (i < 0) throw new Error(`no insert column ${name}`);
  return i;
}

/** where {@link INSERT_COLUMNS} has the id, the definition and the idempotency key */
export const INSERT_ID = columnIndex('id');
export const INSERT_DEFINITION = columnIndex('definition_id');
export const INSERT_KEY = columnIndex('key');

/** The row a run is inserted as; refuses what PostgreSQL cannot store as given. */
export function toInsertRow(run: RunRecord): InsertRow {
  return [
    exactText(run.id, 'id'),
    exactText(run.definitionId, 'definitionId'),
    exactText(run.name, 'name'),
    run.status,
    jsonText(run.input),
    jsonText(run.output),
    jsonText(run.error),
    jsonText(run.progress),
    run.iterations ?? 0,
    run.attempt ?? 0,
    exactText(run.parentId, 'parentId'),
    exactText(run.key, 'key'),
    jsonText(run.context),
    exactText(run.after, 'after'),
    exactText(run.runAt, 'runAt'),
    exactText(run.scheduledFor, 'scheduledFor'),
    exactText(run.createdOn, 'createdOn'),
    exactText(run.startedOn, 'startedOn'),
    exactText(run.finishedOn, 'finishedOn'),
    isoToMs(run.finishedOn),
    exactText(run.nodeId, 'nodeId'),
    intMs(run.dueAt) ?? 0,
    exactText(run.targetNodeId, 'targetNodeId'),
    exactText(run.leaseToken, 'leaseToken'),
    intMs(run.leaseExpiresAt),
    run.abortRequested ?? false,
    run.recoveries ?? 0,
    run.logCount ?? 0,
    run.backfilled === true,
    run.retries ?? 0,
    exactText(run.retryOf, 'retryOf'),
    jsonText(run.retryPolicy),
    jsonText(run.originalInput),
    run.iterationBase ?? 0,
    tenantOf(run),
  ];
}

/** the run's `context.tenant` when it is a string PostgreSQL text can hold (listRuns' tenant filter) */
function tenantOf(run: RunRecord): string | null {
  const tenant = run.context?.tenant;
  return typeof tenant === 'string' && storable(tenant) ? tenant : null;
}

export function insertRowSize(row: InsertRow): number {
  let size = 16;
  for (const v of row) size += typeof v === 'string' ? v.length + 3 : 8;
  return size;
}

/** Row indexes in (definition, key nulls last, id) order; cheap when already in order (the common case). */
export function sortedForInsert(rows: InsertRow[]): number[] {
  const order = rows.map((_, i) => i);
  const cmp = (a: number, b: number): number => {
    const ra = rows[a];
    const rb = rows[b];
    const d = compareText(ra[INSERT_DEFINITION] as string, rb[INSERT_DEFINITION] as string);
    if (d !== 0) return d;
    const ka = ra[INSERT_KEY] as string | null;
    const kb = rb[INSERT_KEY] as string | null;
    if (ka !== kb) {
      if (ka === null) return 1;
      if (kb === null) return -1;
      const k = compareText(ka, kb);
      if (k !== 0) return k;
    }
    return compareText(ra[INSERT_ID] as string, rb[INSERT_ID] as string);
  };
  for (let i = 1; i < order.length; i++) {
    if (cmp(i - 1, i) > 0) return order.sort(cmp);
  }
  return order;
}
