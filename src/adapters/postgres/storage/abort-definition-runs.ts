import type { AbortRunsRequest, AbortRunsResult } from '../../../ports/storage';
import { isoToMs, storable } from './column-values';
import type { StorageConnections } from './connections';
import { cols, toRecord, type RunRow } from './run-row';

/** A page of a definition's unfinished runs below a restart's cut-off: ended, or their abort requested. */
export async function abortDefinitionRuns(db: StorageConnections, request: AbortRunsRequest): Promise<AbortRunsResult> {
  const limit = Math.floor(request.limit);
  if (!(limit > 0) || !storable(request.definitionId) || !storable(request.before)) return { aborted: [], requested: [] };
  const error = JSON.stringify({ message: String(request.message), code: 'ABORTED' });
  const s = db.s;
  // Each change checks the row as it is when written (a claim may have taken a pending run
  // meanwhile): a run missed that way is found by the next call, and a claim after the restart's
  // cut-off was recorded hands it out with its abort requested anyway.
  const rows = await db.exec('write', 'abortDefinitionRuns', async (client) => {
    const res = await client.query<RunRow & { kind: 'aborted' | 'requested' }>(
      `with candidates as (
         (select id from ${s}.runs where status = 'pending' and definition_id = $1 and id < $2 order by id limit $3)
         union all
         (select id from ${s}.runs where status = 'running' and definition_id = $1 and id < $2
            and (lease_token is null or not abort_requested) order by id limit $3)
       ),
       chosen as (select id from candidates order by id limit $3),
       ended as (
         update ${s}.runs r set status = 'aborted', error = $4::json, finished_on = $5, finished_at = $6,
           lease_token = null, lease_expires_at = null
         from chosen c
         where r.id = c.id and (r.status = 'pending' or (r.status = 'running' and r.lease_token is null))
         returning ${cols('r')}
       ),
       req as (
         update ${s}.runs r set abort_requested = true
         from chosen c
         where r.id = c.id and r.status = 'running' and r.lease_token is not null and not r.abort_requested
         returning ${cols('r')}
       )
       select 'aborted' as kind, * from ended
       union all
       select 'requested' as kind, * from req
       order by id`,
      [request.definitionId, request.before, limit, error, request.now, isoToMs(request.now)],
    );
    return res.rows;
  });
  return {
    aborted: rows.filter((r) => r.kind === 'aborted').map(toRecord),
    requested: rows.filter((r) => r.kind === 'requested').map(toRecord),
  };
}
