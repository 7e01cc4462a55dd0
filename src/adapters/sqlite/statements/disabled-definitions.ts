import type Database from 'better-sqlite3';

/** Which definitions are disabled (a claim reads the flag itself: see claim-runs.ts). */
export interface DisabledDefinitions {
  list(): string[];
  set(definitionId: string, disabled: boolean): void;
}

export function prepareDisabledDefinitions(db: Database.Database): DisabledDefinitions {
  const disabled = db.prepare<[], string>('SELECT definition_id FROM tasklane_definitions WHERE disabled = 1').pluck();
  const setDisabled = db.prepare<[string, number]>(
    'INSERT INTO tasklane_definitions (definition_id, disabled) VALUES (?, ?) ON CONFLICT (definition_id) DO UPDATE SET disabled = excluded.disabled',
  );
  return {
    list: () => disabled.all(),
    set: (definitionId, off) => {
      setDisabled.run(definitionId, off ? 1 : 0);
    },
  };
}
