import type Database from 'better-sqlite3';
import type { LeaseRenewal, RenewResult } from '../../../ports/storage';

/** leases extended to `expires`; run in a `BEGIN IMMEDIATE` transaction */
export type RenewLeases = Database.Transaction<(leases: LeaseRenewal[], expires: number) => RenewResult>;

/** Each lease renewed if still held (same run, running, same token); the abort flag comes back with it. */
export function prepareRenewLeases(db: Database.Database): RenewLeases {
  const renew = db
    .prepare<[number, string, string], number>(
      `UPDATE tasklane_runs SET lease_expires_at = ? WHERE id = ? AND status = 'running' AND lease_token = ? RETURNING abort_requested`,
    )
    .pluck();
  return db.transaction((leases: LeaseRenewal[], expires: number): RenewResult => {
    const lost: string[] = [];
    const abortRequested: string[] = [];
    for (const lease of leases) {
      const flag = renew.get(expires, lease.id, lease.leaseToken ?? '');
      if (flag === undefined) lost.push(lease.id);
      else if (flag === 1) abortRequested.push(lease.id);
    }
    return { lost, abortRequested };
  });
}
