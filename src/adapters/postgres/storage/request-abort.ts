import type { RunStatus } from '../../../api/types';
import type { RunRecord } from '../../../ports/run-record';
import type { AbortResult } from '../../../ports/storage';
import { isoToMs, storable } from './column-values';
import type { StorageConnections } from './connections';
import { cols, toRecord, type RunRow } from './run-row';

/**
 * One statement: the run is locked and read (`cur`), then either ended (pending, or parked: no
 * lease) or marked `abort_requested` (under a lease: its holder ends it).
 */
export async function requestAbort(
  db: StorageConnections,
  getRun: (id: string) => Promise<RunRecord | null>,
  id: string,
  message: string,
  now: string,
): Promise<AbortResult> {
  if (!storable(id)) return { kind: 'not_found' };
  const error = JSON.stringify({ message, code: 'ABORTED' });
  const s = db.s;
  const row = await db.exec('write', 'requestAbort', async (client) => {
    const res = await client.query<RunRow & { prev_status: RunStatus; prev_leased: boolean }>(
      `with cur as (
         select id, status, (lease_token is not null) as leased from ${s}.runs where id = $1 for update
       ),
       upd as (
         update ${s}.runs r set
           status = 'aborted',
           error = $2::json,
           finished_on = $3,
           finished_at = $4,
           lease_token = null,
           lease_expires_at = null
         from cur
         where r.id = cur.id and (cur.status = 'pending' or (cur.status = 'running' and not cur.leased))
         returning ${cols('r')}
       ),
       req as (
         update ${s}.runs r set abort_requested = true
         from cur
         where r.id = cur.id and cur.status = 'running' and cur.leased
         returning ${cols('r')}
       )
       select cur.status as prev_status, cur.leased as prev_leased, x.*
       from cur
       left join (select * from upd union all select * from req) x on x.id = cur.id`,
      [id, error, now, isoToMs(now)],
    );
    return res.rows[0];
  });
  if (!row) return { kind: 'not_found' };
  if (row.prev_status === 'pending' || (row.prev_status === 'running' && !row.prev_leased)) {
    return { kind: 'aborted', run: toRecord(row) };
  }
  if (row.prev_status === 'running') return { kind: 'requested', run: toRecord(row) };
  const current = await getRun(id);
  if (!current) return { kind: 'not_found' };
  return { kind: 'finished', run: current };
}
