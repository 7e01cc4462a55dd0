import type Database from 'better-sqlite3';
import type { LocalEntry, LocalWrite, LocalWriteResult } from '../../../ports/storage';
import { parse } from '../run-row';

/** A definition's locals: versioned JSON values, written compare-and-set. */
export interface Locals {
  read(definitionId: string, key: string): LocalEntry;
  /** `text`: the value's JSON (null: deleted); run in a `BEGIN IMMEDIATE` transaction */
  write: Database.Transaction<(write: LocalWrite, text: string | null) => LocalWriteResult>;
  list(definitionId: string): Map<string, unknown>;
}

/**
 * A write is refused to a run from before the definition's restart cut-off ('restarted'), and
 * when the caller expected another version ('conflict'); each write adds one to the version.
 */
export function prepareLocals(db: Database.Database): Locals {
  const readLocal = db.prepare<[string, string], { value: string | null; version: number }>(
    'SELECT value, version FROM tasklane_locals WHERE definition_id = ? AND key = ?',
  );
  const localVersion = db.prepare<[string, string], number>('SELECT version FROM tasklane_locals WHERE definition_id = ? AND key = ?').pluck();
  const writeLocal = db
    .prepare<[string, string, string | null], number>(
      `INSERT INTO tasklane_locals (definition_id, key, value, version) VALUES (?, ?, ?, 1)
       ON CONFLICT (definition_id, key) DO UPDATE SET value = excluded.value, version = version + 1
       RETURNING version`,
    )
    .pluck();
  const listLocals = db.prepare<[string], { key: string; value: string }>(
    'SELECT key, value FROM tasklane_locals WHERE definition_id = ? AND value IS NOT NULL ORDER BY key',
  );
  const restartCutoff = db.prepare<[string], string | null>('SELECT restart_cutoff FROM tasklane_definitions WHERE definition_id = ?').pluck();
  return {
    read(definitionId, key) {
      const row = readLocal.get(definitionId, key);
      if (!row) return { value: undefined, version: 0 };
      return { value: row.value === null ? undefined : parse(row.value), version: row.version };
    },
    write: db.transaction((write: LocalWrite, text: string | null): LocalWriteResult => {
      if (write.writerRunId !== undefined) {
        const cutoff = restartCutoff.get(write.definitionId);
        if (cutoff !== undefined && cutoff !== null && write.writerRunId < cutoff) return { ok: false, reason: 'restarted' };
      }
      if (write.expectedVersion !== undefined && (localVersion.get(write.definitionId, write.key) ?? 0) !== write.expectedVersion) {
        return { ok: false, reason: 'conflict' };
      }
      return { ok: true, version: writeLocal.get(write.definitionId, write.key, text)! };
    }),
    list(definitionId) {
      return new Map(listLocals.all(definitionId).map((row) => [row.key, parse(row.value)]));
    },
  };
}
