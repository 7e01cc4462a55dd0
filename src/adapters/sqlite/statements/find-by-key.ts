import type Database from 'better-sqlite3';
import type { RunRecord } from '../../../ports/run-record';
import { NOT_FINISHED, RUN_SELECT, toRecord, type RunRow } from '../run-row';

/** the unfinished run of a definition with an idempotency key, or null */
export type FindByKey = (definitionId: string, key: string) => RunRecord | null;

export function prepareFindByKey(db: Database.Database): FindByKey {
  const findByKey = db
    .prepare<[string, string], RunRow>(`SELECT ${RUN_SELECT} FROM tasklane_runs WHERE definition_id = ? AND key = ? AND status IN ${NOT_FINISHED}`)
    .raw();
  return (definitionId, key) => {
    const row = findByKey.get(definitionId, key);
    return row ? toRecord(row) : null;
  };
}
