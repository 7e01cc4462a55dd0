import type Database from 'better-sqlite3';

/** a definition's restart: its cut-off raised, its locals cleared; run in a `BEGIN IMMEDIATE` transaction */
export type RestartDefinition = Database.Transaction<(definitionId: string, cutoff: string) => { localsCleared: number }>;

/**
 * The cut-off only moves forward (a run id: runs created before it end aborted when claimed, and
 * their writes of locals are refused). Clearing a local bumps its version.
 */
export function prepareRestartDefinition(db: Database.Database): RestartDefinition {
  const setRestartCutoff = db.prepare<[string, string]>(
    `INSERT INTO tasklane_definitions (definition_id, disabled, restart_cutoff) VALUES (?, 0, ?)
     ON CONFLICT (definition_id) DO UPDATE SET restart_cutoff =
       CASE WHEN restart_cutoff IS NULL OR restart_cutoff < excluded.restart_cutoff THEN excluded.restart_cutoff ELSE restart_cutoff END`,
  );
  const clearLocals = db.prepare<[string]>('UPDATE tasklane_locals SET value = NULL, version = version + 1 WHERE definition_id = ? AND value IS NOT NULL');
  return db.transaction((definitionId: string, cutoff: string): { localsCleared: number } => {
    setRestartCutoff.run(definitionId, cutoff);
    return { localsCleared: clearLocals.run(definitionId).changes };
  });
}
