import type Database from 'better-sqlite3';
import { prepareAbortDefinitionRuns, type AbortDefinitionRuns } from './abort-definition-runs';
import { prepareAppendLogs, type AppendLogs } from './append-logs';
import { prepareClaimRuns, type ClaimRuns } from './claim-runs';
import { prepareCountPending, type CountPending } from './count-pending';
import { prepareDeleteRuns, type DeleteRuns } from './delete-runs';
import { prepareDisabledDefinitions, type DisabledDefinitions } from './disabled-definitions';
import { prepareFindByKey, type FindByKey } from './find-by-key';
import { prepareRunReads, type RunReads } from './get-runs';
import { prepareInsertRuns, type InsertRuns } from './insert-runs';
import { prepareListLogs, type ListLogs } from './list-logs';
import { prepareListRuns, type ListRuns } from './list-runs';
import { prepareLocals, type Locals } from './locals';
import { prepareRenewLeases, type RenewLeases } from './renew-leases';
import { prepareRequestAbort, type RequestAbort } from './request-abort';
import { prepareRestartDefinition, type RestartDefinition } from './restart-definition';
import { prepareRunValues, type RunValues } from './run-values';
import { prepareSaveProgress, type SaveProgress } from './save-progress';
import { prepareScheduleTicks, type ScheduleTicks } from './schedule-ticks';
import { prepareUpdateIterations, type UpdateIterations } from './update-iterations';

/**
 * The storage's operations on one connection, each prepared once by the file of its SQL. The
 * transactions among them are better-sqlite3 transactions: the storage runs them `.immediate()`.
 */
export interface Statements {
  reads: RunReads;
  findByKey: FindByKey;
  insertRuns: Database.Transaction<InsertRuns>;
  listRuns: ListRuns;
  countPending: CountPending;
  claimRuns: ClaimRuns;
  updateIterations: UpdateIterations;
  renewLeases: RenewLeases;
  requestAbort: RequestAbort;
  saveProgress: SaveProgress;
  appendLogs: AppendLogs;
  listLogs: ListLogs;
  values: RunValues;
  disabled: DisabledDefinitions;
  ticks: ScheduleTicks;
  deleteRuns: DeleteRuns;
  locals: Locals;
  restartDefinition: RestartDefinition;
  abortDefinitionRuns: AbortDefinitionRuns;
}

export function prepareStatements(db: Database.Database): Statements {
  const reads = prepareRunReads(db);
  const findByKey = prepareFindByKey(db);
  return {
    reads,
    findByKey,
    insertRuns: db.transaction(prepareInsertRuns(db, reads, findByKey)),
    listRuns: prepareListRuns(db),
    countPending: prepareCountPending(db),
    claimRuns: prepareClaimRuns(db),
    updateIterations: prepareUpdateIterations(db),
    renewLeases: prepareRenewLeases(db),
    requestAbort: prepareRequestAbort(db, reads),
    saveProgress: prepareSaveProgress(db),
    appendLogs: prepareAppendLogs(db),
    listLogs: prepareListLogs(db),
    values: prepareRunValues(db),
    disabled: prepareDisabledDefinitions(db),
    ticks: prepareScheduleTicks(db),
    deleteRuns: prepareDeleteRuns(db, reads),
    locals: prepareLocals(db),
    restartDefinition: prepareRestartDefinition(db),
    abortDefinitionRuns: prepareAbortDefinitionRuns(db),
  };
}
