import type { RunRecord } from '../../../ports/run-record';
import type { ClaimRequest } from '../../../ports/storage';
import type { ClaimedRows } from './claimed-rows';
import { intMs } from './column-values';
import type { StorageConnections } from './connections';
import { cols, toRecord, UNFINISHED, type RunRow } from './run-row';

/** a claim's row: the run's columns, its rank within its definition, and its slot's position */
type ClaimRow = RunRow & { claim_rn: number; claim_slot: number; claim_recovered: boolean };

/**
 * The key of runs_running_lease_idx (migration 2): the lowest bigint for a parked run (no lease),
 * else its lease expiry. A claim reads the range below `now` for expired leases and the lowest
 * key for parked runs, and never the live leases.
 */
const LEASE_KEY = `(case when r.lease_token is null then -9223372036854775807 - 1 else coalesce(r.lease_expires_at, 0) end)`;

/**
 * The claim, one statement (one round trip), in the claim order of RunStorage.claimRuns:
 * per slot (`with ordinality` keeps the slots' order) the expired leases by id, then the due
 * parked runs by (due_at, id), then the due pending runs by id within the room left (`max` and
 * the concurrency headroom), each read through its own index (runs_running_lease_idx for the
 * first two: expired leases are the range between the parked key and now, parked runs the
 * parked key; runs_pending_idx for the last, in id order) and locked `for update skip locked`
 * so concurrent claims of other nodes take other runs. `picked` ranks each definition's runs in
 * that order, and the batch takes rank 1 of every slot, then rank 2, ... in slot order, up to
 * the limit.
 *
 * $1 node, $2 now, $3 lease expiry, $4 limit, $5 definition ids, $6 max per definition,
 * $7 concurrency per definition (null = unlimited), $8 now as ISO
 */
function claimSql(s: string): string {
  return `
      with slots as (
        select q.definition_id, q.max_n, q.conc, q.slot, coalesce(d.disabled, false) as disabled, d.restart_cutoff as cutoff
        from unnest($5::text[], $6::int[], $7::int[]) with ordinality as q(definition_id, max_n, conc, slot)
        left join ${s}.definitions d on d.definition_id = q.definition_id
      ),
      running as (
        select slots.definition_id,
               (select count(*) from ${s}.runs r where r.status = 'running' and r.definition_id = slots.definition_id)::int as n
        from slots
        where slots.conc is not null
      ),
      expired as (
        select c.id, c.definition_id, true as recovered, 0 as kind, 0::bigint as ord
        from slots
        cross join lateral (
          -- leases that ran out (one without an expiry counts as expired: its LEASE_KEY is 0)
          select r.id, r.definition_id
          from ${s}.runs r
          where r.status = 'running'
            and r.definition_id = slots.definition_id
            and ${LEASE_KEY} > -9223372036854775807 - 1
            and ${LEASE_KEY} < $2
            and r.lease_token is not null
          order by r.id
          limit slots.max_n
          for update skip locked
        ) c
      ),
      parked as (
        select c.id, c.definition_id, false as recovered, 1 as kind, c.due_at as ord
        from slots
        left join (select definition_id, count(*)::int as n from expired group by definition_id) ec on ec.definition_id = slots.definition_id
        cross join lateral (
          select r.id, r.definition_id, r.due_at
          from ${s}.runs r
          where r.status = 'running'
            and r.definition_id = slots.definition_id
            and ${LEASE_KEY} = -9223372036854775807 - 1
            and r.lease_token is null
            and r.due_at <= $2
            and (r.target_node_id is null or r.target_node_id = $1)
          order by r.due_at, r.id
          limit greatest(0, slots.max_n - coalesce(ec.n, 0))
          for update skip locked
        ) c
      ),
      resumed as (
        select * from expired
        union all
        select * from parked
      ),
      caps as materialized (
        select slots.definition_id,
               case when slots.disabled then 0
                    else greatest(0, least(
                      slots.max_n - coalesce(rc.n, 0),
                      case when slots.conc is null then slots.max_n else slots.conc - coalesce(running.n, 0) end))
               end as room
        from slots
        left join (select definition_id, count(*)::int as n from resumed group by definition_id) rc on rc.definition_id = slots.definition_id
        left join running on running.definition_id = slots.definition_id
      ),
      fresh as (
        select c.id, c.definition_id, false as recovered, 2 as kind, 0::bigint as ord
        from caps
        cross join lateral (
          select r.id, r.definition_id
          from ${s}.runs r
          where r.status = 'pending'
            and r.definition_id = caps.definition_id
            and r.due_at <= $2
            and (r.target_node_id is null or r.target_node_id = $1)
            and (r.after_id is null or not exists (
              select 1 from ${s}.runs a where a.id = r.after_id and a.status in ${UNFINISHED}))
          order by r.id
          limit caps.room
          for update skip locked
        ) c
        where caps.room > 0
      ),
      picked as (
        select u.id, u.recovered, u.definition_id,
               row_number() over (partition by u.definition_id order by u.kind, u.ord, u.id) as rn
        from (select * from resumed union all select * from fresh) u
      ),
      chosen as (
        select p.id, p.recovered, p.rn, p.definition_id, sl.slot from picked p
        join slots sl on sl.definition_id = p.definition_id
        order by p.rn, sl.slot limit $4
      ),
      claimed as (
        update ${s}.runs r set
          status = 'running',
          lease_token = replace(gen_random_uuid()::text, '-', ''),
          lease_expires_at = $3,
          node_id = $1,
          iterations = r.iterations + 1,
          started_on = coalesce(r.started_on, $8),
          attempt = case when r.status = 'pending' or chosen.recovered then r.attempt + 1 else r.attempt end,
          recoveries = case when chosen.recovered then r.recoveries + 1 else r.recoveries end,
          -- created before a restart of its definition (triggered while the restart ran): ends aborted
          abort_requested = r.abort_requested or coalesce(r.id < sl.cutoff, false)
        from chosen
        join slots sl on sl.definition_id = chosen.definition_id
        where r.id = chosen.id
        returning ${cols('r')}, chosen.rn as claim_rn, chosen.slot as claim_slot, chosen.recovered as claim_recovered
      )
      select * from claimed`;
}

/**
 * The claims of one storage: the statement (its text fixed per schema, prepared once per
 * connection of the claim pool), and the claim rows kept for the completions (see ClaimedRows).
 */
export class RunClaims {
  private readonly sql: string;

  constructor(
    private readonly db: StorageConnections,
    private readonly claimed: ClaimedRows,
  ) {
    this.sql = claimSql(db.s);
  }

  async claim(request: ClaimRequest): Promise<RunRecord[]> {
    const limit = Math.floor(request.limit);
    // as every storage: a slot without room is skipped, and a definition counts once (its first slot)
    const seen = new Set<string>();
    const slots = request.slots.filter((s) => {
      if (seen.has(s.definitionId) || !(s.max >= 1)) return false;
      seen.add(s.definitionId);
      return true;
    });
    if (!(limit > 0) || slots.length === 0) return [];
    const definitionIds = slots.map((s) => s.definitionId);
    const maxes = slots.map((s) => Math.min(Math.floor(s.max), limit));
    const concurrency = slots.map((s) => (s.concurrency === undefined || s.concurrency === null ? null : Math.max(0, Math.floor(s.concurrency))));
    const limited = slots.filter((s) => s.concurrency !== undefined && s.concurrency !== null).map((s) => s.definitionId);
    const now = intMs(request.now) ?? Date.now();
    const leaseExpiry = now + Math.max(0, Math.round(request.leaseMs));
    const values = [request.nodeId, now, leaseExpiry, limit, definitionIds, maxes, concurrency, new Date(now).toISOString()];
    const db = this.db;
    const rows = await db.exec(
      'idempotent',
      'claimRuns',
      async (client) => {
        const run = async () => (await client.query<ClaimRow>({ name: 'tasklane_claim', text: this.sql, values })).rows;
        if (limited.length === 0) return run();
        return db.transaction(client, async () => {
          // Claims of a concurrency-limited definition are serialised cluster-wide: the running count
          // read by the claim statement (a fresh snapshot, taken after the lock) is then exact.
          await client.query(
            `select pg_advisory_xact_lock(hashtextextended($1 || k, 0))
           from (select k from unnest($2::text[]) as k order by k) as keys`,
            [`tasklane:claim:${db.schema}:`, limited],
          );
          return run();
        });
      },
      'claims',
    );
    // in claim order (see RunStorage.claimRuns): round-robin across definitions in slot order,
    // each definition's runs in its own order (sorted here: the rows are wide)
    rows.sort((a, b) => a.claim_rn - b.claim_rn || a.claim_slot - b.claim_slot);
    const runs = new Array<RunRecord>(rows.length);
    for (let i = 0; i < rows.length; i++) {
      runs[i] = toRecord(rows[i]);
      if (rows[i].claim_recovered) runs[i].recovered = true;
      this.claimed.remember(rows[i]);
    }
    return runs;
  }
}
