import type Database from 'better-sqlite3';

/** a running run's progress (JSON text); nothing for a run that is not running */
export type SaveProgress = (id: string, progress: string) => void;

export function prepareSaveProgress(db: Database.Database): SaveProgress {
  const saveProgress = db.prepare<[string, string]>(`UPDATE tasklane_runs SET progress = ? WHERE id = ? AND status = 'running'`);
  return (id, progress) => {
    saveProgress.run(progress, id);
  };
}
