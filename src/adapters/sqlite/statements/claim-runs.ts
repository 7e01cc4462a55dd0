import type Database from 'better-sqlite3';
import type { ClaimRequest } from '../../../ports/storage';
import { newToken } from '../../../util/ids';
import { NOT_FINISHED, RUN, RUN_SELECT, type RunRow } from '../run-row';

/** the claimed rows, in the order picked; run in a `BEGIN IMMEDIATE` transaction */
/** the claimed rows in claim order, and the ids of those taken up after their lease expired */
export type ClaimRuns = Database.Transaction<(request: ClaimRequest) => { rows: RunRow[]; recovered: ReadonlySet<string> }>;

type Candidate = { id: string; kind: 'expired' | 'parked' | 'pending' };

/**
 * A claim, for each definition of the request in turn: expired leases first (by id), then due
 * parked runs (running without a lease: by dueAt, then id), then due pending runs whose `after`
 * run has ended (by id) within the definition's concurrency, unless it is disabled. The
 * definitions' lists are merged round-robin.
 *
 * Each definition's candidates are read separately (ids only, from covering partial indexes, with
 * their own LIMIT) and merged in JS, rather than one
 * `row_number() OVER (PARTITION BY definition_id ORDER BY id)` query: the window numbers every
 * pending row, 42 ms per claim with 100,000 pending against 0.4 ms for this way. The full rows
 * come back from one `UPDATE ... RETURNING` per kind of claim (pending, parked, expired).
 *
 * The queries name their partial index (`INDEXED BY`): without statistics the planner prefers the
 * plain (definition_id, id) index, which walks every finished run of the definition.
 */
const NONE: ReadonlySet<string> = new Set();

export function prepareClaimRuns(db: Database.Database): ClaimRuns {
  // what a claim needs of the definitions (one small table): disabled ones, restart cut-offs
  const definitionStates = db.prepare<[], { definition_id: string; disabled: number; restart_cutoff: string | null }>(
    'SELECT definition_id, disabled, restart_cutoff FROM tasklane_definitions WHERE disabled = 1 OR restart_cutoff IS NOT NULL',
  );
  const markAbortRequestedMany = db.prepare<[string]>('UPDATE tasklane_runs SET abort_requested = 1 WHERE id IN (SELECT value FROM json_each(?))');
  // claim candidates: ids only (covering indexes); full rows come back from the UPDATE ... RETURNING
  const claimExpired = db
    .prepare<[string, number, number], string>(
      `SELECT id FROM tasklane_runs INDEXED BY tasklane_runs_leased
        WHERE status = 'running' AND lease_token IS NOT NULL AND definition_id = ? AND lease_expires_at < ?
        ORDER BY id LIMIT ?`,
    )
    .pluck();
  // a lease without an expiry (only a hand-made record can have one) counts as expired; a separate
  // query because `OR lease_expires_at IS NULL` makes SQLite walk the whole index
  const claimNoExpiry = db
    .prepare<[string, number], string>(
      `SELECT id FROM tasklane_runs INDEXED BY tasklane_runs_leased
        WHERE status = 'running' AND lease_token IS NOT NULL AND definition_id = ? AND lease_expires_at IS NULL
        ORDER BY id LIMIT ?`,
    )
    .pluck();
  const claimParked = db
    .prepare<[string, number, string, number], string>(
      `SELECT id FROM tasklane_runs INDEXED BY tasklane_runs_parked
        WHERE status = 'running' AND lease_token IS NULL AND definition_id = ? AND due_at <= ?
          AND (target_node_id IS NULL OR target_node_id = ?)
        ORDER BY due_at, id LIMIT ?`,
    )
    .pluck();
  const claimPending = db
    .prepare<[string, number, string, number], string>(
      `SELECT r.id FROM tasklane_runs AS r INDEXED BY tasklane_runs_pending
        WHERE r.status = 'pending' AND r.definition_id = ? AND r.due_at <= ?
          AND (r.target_node_id IS NULL OR r.target_node_id = ?)
          AND (r.after_id IS NULL OR NOT EXISTS (
                SELECT 1 FROM tasklane_runs AS a WHERE a.id = r.after_id AND a.status IN ${NOT_FINISHED}))
        ORDER BY r.id LIMIT ?`,
    )
    .pluck();
  const countRunning = db
    .prepare<[string, string], number>(
      `SELECT (SELECT count(*) FROM tasklane_runs INDEXED BY tasklane_runs_parked
                WHERE status = 'running' AND lease_token IS NULL AND definition_id = ?)
            + (SELECT count(*) FROM tasklane_runs INDEXED BY tasklane_runs_leased
                WHERE status = 'running' AND lease_token IS NOT NULL AND definition_id = ?)`,
    )
    .pluck();
  // one statement per kind of claim for the whole batch (a statement per run made SQLite open and
  // drop a RETURNING table per run: ~10 µs of ~50 per run, measured); each run's lease token is the
  // batch's base and its id, unique
  const claimRuns = db
    .prepare<[string, number, string, number, number, string, string], RunRow>(
      `UPDATE tasklane_runs
          SET status = 'running', lease_token = ? || id, lease_expires_at = ?, node_id = ?,
              iterations = iterations + 1, attempt = attempt + ?, recoveries = recoveries + ?,
              started_on = coalesce(started_on, ?)
        WHERE id IN (SELECT value FROM json_each(?))
        RETURNING ${RUN_SELECT}`,
    )
    .raw();

  return db.transaction((request: ClaimRequest): { rows: RunRow[]; recovered: ReadonlySet<string> } => {
    const { now, nodeId } = request;
    const limit = Math.floor(request.limit);
    const off = new Set<string>();
    const cutoffs = new Map<string, string>();
    for (const state of definitionStates.all()) {
      if (state.disabled === 1) off.add(state.definition_id);
      if (state.restart_cutoff !== null) cutoffs.set(state.definition_id, state.restart_cutoff);
    }
    const lists: Candidate[][] = [];
    const seen = new Set<string>();
    for (const slot of request.slots) {
      const def = slot.definitionId;
      if (seen.has(def) || !(slot.max >= 1)) continue;
      seen.add(def);
      let room = Math.floor(Math.min(slot.max, limit));
      const list: Candidate[] = [];
      let expired = claimExpired.all(def, now, room);
      const noExpiry = claimNoExpiry.all(def, room);
      if (noExpiry.length > 0) expired = [...expired, ...noExpiry].sort().slice(0, room);
      for (const id of expired) list.push({ id, kind: 'expired' });
      room -= list.length;
      if (room > 0) {
        const parked = claimParked.all(def, now, nodeId, room);
        for (const id of parked) list.push({ id, kind: 'parked' });
        room -= parked.length;
      }
      if (room > 0 && !off.has(def)) {
        if (slot.concurrency !== undefined) {
          room = Math.min(room, Math.floor(slot.concurrency) - (countRunning.get(def, def) ?? 0));
        }
        if (room > 0) for (const id of claimPending.all(def, now, nodeId, room)) list.push({ id, kind: 'pending' });
      }
      if (list.length > 0) lists.push(list);
    }
    // round-robin across definitions
    const picked: Candidate[] = [];
    for (let round = 0; picked.length < limit; round++) {
      let any = false;
      for (const list of lists) {
        if (round >= list.length) continue;
        any = true;
        picked.push(list[round]);
        if (picked.length >= limit) break;
      }
      if (!any) break;
    }
    if (picked.length === 0) return { rows: [], recovered: NONE };
    const tokenBase = newToken();
    const startedOn = new Date(now).toISOString();
    const leaseExpiresAt = now + request.leaseMs;
    const byKind: Record<Candidate['kind'], string[]> = { pending: [], parked: [], expired: [] };
    for (const { id, kind } of picked) byKind[kind].push(id);
    const rows = new Map<string, RunRow>();
    for (const kind of ['pending', 'parked', 'expired'] as const) {
      const ids = byKind[kind];
      if (ids.length === 0) continue;
      const attempt = kind === 'parked' ? 0 : 1;
      const recovery = kind === 'expired' ? 1 : 0;
      for (const row of claimRuns.all(tokenBase, leaseExpiresAt, nodeId, attempt, recovery, startedOn, JSON.stringify(ids))) rows.set(row[RUN.id], row);
    }
    // in the order picked: round-robin across definitions, id order within each
    const out: RunRow[] = [];
    const restarted: string[] = [];
    for (const { id } of picked) {
      const row = rows.get(id);
      if (!row) continue;
      // created before a restart of its definition (triggered while the restart ran): ends aborted
      if (cutoffs.size > 0 && row[RUN.abort_requested] === 0 && row[RUN.id] < (cutoffs.get(row[RUN.definition_id]) ?? '')) {
        row[RUN.abort_requested] = 1;
        restarted.push(row[RUN.id]);
      }
      out.push(row);
    }
    if (restarted.length > 0) markAbortRequestedMany.run(JSON.stringify(restarted));
    return { rows: out, recovered: byKind.expired.length === 0 ? NONE : new Set(byKind.expired) };
  });
}
