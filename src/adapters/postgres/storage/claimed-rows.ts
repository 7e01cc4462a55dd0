import { RecentMap } from '../bounded';
import type { RunRow } from './run-row';

/** claimed runs whose claim row is kept until their iteration is written (the last 50,000 to 100,000) */
const MAX_CLAIMED_ROWS = 100_000;

/**
 * The rows of runs this storage claimed, as the claim returned them, by run id, until the
 * claim's iteration is written: a completion then reads back only the columns that can change
 * under a lease (see updateIterations). Bounded; an entry is trusted only for its lease token.
 */
export class ClaimedRows {
  private readonly rows = new RecentMap<RunRow>(MAX_CLAIMED_ROWS);

  remember(row: RunRow): void {
    this.rows.set(row.id, row);
  }

  /** the claim row of this lease, if it is still known */
  get(id: string, leaseToken: string): RunRow | undefined {
    const row = this.rows.get(id);
    return row !== undefined && row.lease_token === leaseToken ? row : undefined;
  }

  /** the claim row of this lease is no longer needed */
  forget(lease: { id: string; leaseToken: string }): void {
    if (this.get(lease.id, lease.leaseToken) !== undefined) this.rows.delete(lease.id);
  }

  clear(): void {
    this.rows.clear();
  }
}
