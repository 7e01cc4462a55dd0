import { InvalidArgumentError } from '../../../api/errors';
import { isoToMs } from './column-values';
import type { StorageConnections } from './connections';
import { FINISHED } from './run-row';

/** Deletes up to `limit` runs finished before `before` (oldest first), with their logs and values. */
export function deleteFinishedBefore(db: StorageConnections, before: string, limit: number): Promise<number> {
  const ms = isoToMs(before);
  if (ms === null) return Promise.reject(new InvalidArgumentError(`deleteFinishedBefore: not an ISO date: ${String(before).slice(0, 40)}`));
  const max = Math.max(0, Math.floor(limit));
  if (max === 0) return Promise.resolve(0);
  const s = db.s;
  return db.exec('idempotent', 'deleteFinishedBefore', async (client) => {
    const res = await client.query<{ n: number }>(
      `with victims as (
         select id from ${s}.runs
         where finished_at < $1 and status in ${FINISHED}
         order by finished_at
         limit $2
         for update skip locked
       ),
       dl as (delete from ${s}.logs where run_id in (select id from victims)),
       dv as (delete from ${s}.run_values where run_id in (select id from victims)),
       dr as (delete from ${s}.runs where id in (select id from victims) returning 1)
       select count(*)::int as n from dr`,
      [ms, max],
    );
    return res.rows[0]?.n ?? 0;
  });
}
