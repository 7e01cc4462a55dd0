import type Database from 'better-sqlite3';

/** A run's `store` values: JSON text by key. */
export interface RunValues {
  get(runId: string, key: string): string | undefined;
  /** the value's JSON text, or null to delete it */
  set(runId: string, key: string, text: string | null): void;
}

export function prepareRunValues(db: Database.Database): RunValues {
  const getValue = db.prepare<[string, string], string>('SELECT value FROM tasklane_values WHERE run_id = ? AND key = ?').pluck();
  const setValue = db.prepare<[string, string, string]>(
    'INSERT INTO tasklane_values (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key) DO UPDATE SET value = excluded.value',
  );
  const deleteValue = db.prepare<[string, string]>('DELETE FROM tasklane_values WHERE run_id = ? AND key = ?');
  return {
    get: (runId, key) => getValue.get(runId, key),
    set: (runId, key, text) => {
      if (text === null) deleteValue.run(runId, key);
      else setValue.run(runId, key, text);
    },
  };
}
