import { RUN, type RunRow } from './run-row';
import { UPDATE, type UpdateParams } from './statements/update-iterations';

/** claimed rows kept for their short update (see update-iterations.ts): far above any pool's size */
const MAX_CLAIMED_KEPT = 100_000;

/**
 * The rows this adapter claimed, by run id, until their lease is written back: a run claimed here
 * is written back with a short RETURNING (what the update or another writer can have changed),
 * the rest taken from the row as claimed.
 */
export class ClaimedRows {
  private readonly rows = new Map<string, RunRow>();

  keep(rows: RunRow[]): void {
    if (this.rows.size + rows.length > MAX_CLAIMED_KEPT) this.rows.clear(); // a bound, never reached in use
    for (const row of rows) this.rows.set(row[RUN.id], row);
  }

  /** for each update, the row claimed here under the update's lease, if any */
  forUpdates(params: UpdateParams[]): Array<RunRow | undefined> {
    return params.map((p) => {
      const row = this.rows.get(p[UPDATE.id]);
      return row !== undefined && row[RUN.lease_token] === p[UPDATE.lease_token] ? row : undefined;
    });
  }

  /** the updated runs' leases were written back (or lost): their rows are no longer needed */
  release(params: UpdateParams[]): void {
    for (const p of params) this.rows.delete(p[UPDATE.id]);
  }

  clear(): void {
    this.rows.clear();
  }
}
