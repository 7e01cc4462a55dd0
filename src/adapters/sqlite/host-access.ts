import type Database from 'better-sqlite3';
import { assertRecord } from './run-row';
import { normalise } from './sqlite-errors';
import type { SqliteRunAccess } from './sqlite-transaction';
import { prepareFindByKey } from './statements/find-by-key';
import { prepareRunReads } from './statements/get-runs';
import { prepareInsertRuns } from './statements/insert-runs';

/**
 * The run reads and the insert on a host's connection to the storage's file, for a transactional
 * trigger: the same statements and insert code as the storage's own, prepared once per host
 * connection; the insert is a savepoint inside the host's transaction.
 */
export function hostRunAccess(db: Database.Database): SqliteRunAccess {
  const reads = prepareRunReads(db);
  const findByKey = prepareFindByKey(db);
  const insertTx = db.transaction(prepareInsertRuns(db, reads, findByKey)); // a savepoint inside the host's transaction
  const guarded = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      throw normalise(error);
    }
  };
  return {
    findUnfinishedByKey: (definitionId, key) => guarded(() => findByKey(definitionId, key)),
    getRuns: (ids) => guarded(() => reads.getRuns(ids)),
    insertRuns: (runs) => {
      for (const run of runs) assertRecord(run);
      return guarded(() => insertTx(runs));
    },
  };
}
