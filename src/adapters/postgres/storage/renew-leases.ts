import type { LeaseRenewal, RenewResult } from '../../../ports/storage';
import type { ClaimedRows } from './claimed-rows';
import { intMs } from './column-values';
import type { StorageConnections } from './connections';

/**
 * Extends the leases `nodeId` holds, one statement; rows are locked in id order (as every
 * multi-row writer here locks them), so it cannot deadlock with a completion batch.
 */
export async function renewLeases(
  db: StorageConnections,
  claimed: ClaimedRows,
  nodeId: string,
  leases: LeaseRenewal[],
  now: number,
  leaseMs: number,
): Promise<RenewResult> {
  if (leases.length === 0) return { lost: [], abortRequested: [] };
  const expires = (intMs(now) ?? Date.now()) + Math.max(0, Math.round(leaseMs));
  const renewed = await db.exec('idempotent', 'renewLeases', async (client) => {
    const res = await client.query<{ id: string; lease_token: string; abort_requested: boolean }>(
      `with l as (select * from unnest($1::text[], $2::text[]) as l(id, token)),
       locked as (
         select r.id from ${db.s}.runs r join l on r.id = l.id
         where r.status = 'running' and r.lease_token = l.token and r.node_id = $3
         order by r.id
         for update of r
       )
       update ${db.s}.runs r set lease_expires_at = $4
       from locked where r.id = locked.id
       returning r.id, r.lease_token, r.abort_requested`,
      [leases.map((l) => l.id), leases.map((l) => l.leaseToken), nodeId, expires],
    );
    return res.rows;
  });
  // per item: an entry with a stale token is lost even when another entry renews the same run
  const kept = new Set(renewed.map((r) => `${r.id}\u0000${r.lease_token}`));
  const lost = leases.filter((l) => !kept.has(`${l.id}\u0000${l.leaseToken}`));
  for (const l of lost) claimed.forget(l);
  return {
    lost: lost.map((l) => l.id),
    abortRequested: renewed.filter((r) => r.abort_requested).map((r) => r.id),
  };
}
