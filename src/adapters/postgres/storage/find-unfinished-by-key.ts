import type { RunRecord } from '../../../ports/run-record';
import { storable } from './column-values';
import type { StorageConnections } from './connections';
import { cols, toRecord, UNFINISHED, type RunRow } from './run-row';

/** The unfinished run holding an idempotency key (runs_unfinished_key_idx). */
export function findUnfinishedByKey(db: StorageConnections, definitionId: string, key: string): Promise<RunRecord | null> {
  if (!storable(definitionId) || !storable(key)) return Promise.resolve(null);
  return db.exec('read', 'findUnfinishedByKey', async (client) => {
    const res = await client.query<RunRow>(
      `select ${cols()} from ${db.s}.runs
       where definition_id = $1 and key = $2 and status in ${UNFINISHED} limit 1`,
      [definitionId, key],
    );
    return res.rows[0] ? toRecord(res.rows[0]) : null;
  });
}
