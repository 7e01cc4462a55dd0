import type { RunRecord } from '../../../ports/run-record';
import type { DeleteRunResult } from '../../../ports/storage';
import { storable } from './column-values';
import type { StorageConnections } from './connections';
import { FINISHED } from './run-row';

export async function deleteRun(db: StorageConnections, getRun: (id: string) => Promise<RunRecord | null>, id: string): Promise<DeleteRunResult> {
  if (!storable(id)) return { kind: 'not_found' };
  const s = db.s;
  // One statement: the run and its descendants, deleted only when none is unfinished. Runs
  // never leave a finished status, so a check and a delete in the same snapshot cannot disagree.
  const row = await db.exec('idempotent', 'deleteRun', async (client) => {
    const res = await client.query<{ found: number; open_id: string | null; deleted: string[] | null }>(
      `with recursive tree(id) as (
         select id from ${s}.runs where id = $1
         union
         select r.id from ${s}.runs r join tree on r.parent_id = tree.id
       ),
       members as (select r.id, r.status from ${s}.runs r join tree on r.id = tree.id),
       open as (select id from members where status not in ${FINISHED} order by id limit 1),
       dl as (delete from ${s}.logs where run_id in (select id from members) and not exists (select 1 from open)),
       dv as (delete from ${s}.run_values where run_id in (select id from members) and not exists (select 1 from open)),
       dr as (delete from ${s}.runs where id in (select id from members) and not exists (select 1 from open) returning id)
       select (select count(*) from members)::int as found, (select id from open) as open_id, (select array_agg(id order by id) from dr) as deleted`,
      [id],
    );
    return res.rows[0];
  });
  if (row.open_id !== null) {
    const open = await getRun(row.open_id);
    if (open) return { kind: 'unfinished', run: open };
  }
  // a retried statement may find the run deleted by its first attempt
  if (row.found === 0 || row.deleted === null) return { kind: 'not_found' };
  return { kind: 'deleted', ids: [id, ...row.deleted.filter((d) => d !== id)] };
}
