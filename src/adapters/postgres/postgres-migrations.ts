import type { ClientBase } from 'pg';
import { InvalidArgumentError, SchemaTooNewError } from '../../api/errors';

/**
 * Versioned migrations of the PostgreSQL schema (tables `runs`, `logs`, `run_values`, `definitions`, `locals`,
 * `schedule_ticks`, `nodes`, `migrations`).
 *
 * `migrate()` runs in one transaction under `pg_advisory_xact_lock` keyed by the schema name, so
 * any number of nodes may start at once: the first applies what is missing, the others wait and
 * then find nothing to do. A schema whose recorded version is higher than {@link LATEST_SCHEMA_VERSION}
 * is refused with {@link SchemaTooNewError} and left untouched.
 *
 * The schema name is the only identifier ever interpolated into SQL: it is checked against
 * {@link SCHEMA_NAME_PATTERN} and double-quoted.
 */

export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

export interface Migration {
  version: number;
  name: string;
  /** the SQL of the migration; `s` is the quoted schema name */
  sql(s: string): string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'runs, logs, values, definitions, schedule ticks, nodes',
    sql: (s) => `
      create table ${s}.runs (
        id text collate "C" primary key,
        definition_id text not null,
        name text not null,
        status text not null,
        input json,
        output json,
        error json,
        progress json,
        iterations integer not null default 0,
        attempt integer not null default 0,
        parent_id text collate "C",
        key text,
        context json,
        after_id text collate "C",
        run_at text,
        scheduled_for text,
        created_on text not null,
        started_on text,
        finished_on text,
        finished_at bigint,
        node_id text,
        due_at bigint not null,
        target_node_id text,
        lease_token text,
        lease_expires_at bigint,
        abort_requested boolean not null default false,
        recoveries integer not null default 0,
        log_count integer not null default 0
      );
      create index runs_pending_idx on ${s}.runs (definition_id, id) where status = 'pending';
      create index runs_running_idx on ${s}.runs (definition_id) where status = 'running';
      create unique index runs_unfinished_key_idx on ${s}.runs (definition_id, key)
        where key is not null and status in ('pending', 'running');
      create index runs_definition_idx on ${s}.runs (definition_id, id);
      create index runs_parent_idx on ${s}.runs (parent_id, id) where parent_id is not null;
      create index runs_finished_idx on ${s}.runs (finished_at) where finished_at is not null;

      create table ${s}.logs (
        id bigserial primary key,
        run_id text collate "C" not null,
        type text not null,
        message text not null,
        data json,
        created_on text not null
      );
      create index logs_run_idx on ${s}.logs (run_id, id);

      create table ${s}.run_values (
        run_id text collate "C" not null,
        key text not null,
        value json not null,
        primary key (run_id, key)
      );

      create table ${s}.definitions (
        definition_id text primary key,
        disabled boolean not null default false,
        updated_at timestamptz not null default now()
      );

      create table ${s}.schedule_ticks (
        schedule_id text not null,
        tick text not null,
        recorded_at timestamptz not null default now(),
        primary key (schedule_id, tick)
      );

      create table ${s}.nodes (
        node_id text primary key,
        version text not null,
        accept json not null,
        started_on text not null,
        heartbeat_at timestamptz not null default now()
      );
    `,
  },
  {
    version: 2,
    name: 'fewer index entries per run transition; recovery scans skip live leases',
    // Every transition of a run (insert, claim, completion) writes a new row version, and a new
    // version gets an entry in every index whose predicate it meets (status is in the predicates,
    // so no update is HOT). runs_definition_idx covered every version of every run: listing by
    // definition now goes through the per-status partial indexes instead (pending, running, and
    // the new finished one), which saves an entry at insert and at claim (9 -> 7 per run).
    // runs_running_idx had only definition_id: a claim looking for parked or expired runs read
    // every running run of the definition. Keyed by the lease's expiry (the lowest bigint when
    // parked: the claim's LEASE_KEY), a claim reads only parked and expired ones (key < now).
    sql: (s) => `
      drop index ${s}.runs_definition_idx;
      drop index ${s}.runs_running_idx;
      create index runs_running_lease_idx on ${s}.runs
        (definition_id, (case when lease_token is null then -9223372036854775807 - 1 else coalesce(lease_expires_at, 0) end))
        where status = 'running';
      create index runs_finished_definition_idx on ${s}.runs (definition_id, id) where status in ('success', 'failed', 'aborted');
    `,
  },
  {
    version: 3,
    name: 'runs: backfilled (a schedule tick fired late, after downtime)',
    // a constant default: PostgreSQL 11+ adds the column without rewriting the table
    sql: (s) => `alter table ${s}.runs add column backfilled boolean not null default false;`,
  },
  {
    version: 4,
    name: 'retries (runs: retries, retry_of, retry_policy, original_input, iteration_base); task locals; restart cut-off',
    // constant defaults and nullable columns: added without rewriting the table. restart_cutoff is
    // compared with run ids, hence their collation
    sql: (s) => `
      alter table ${s}.runs
        add column retries integer not null default 0,
        add column retry_of text collate "C",
        add column retry_policy json,
        add column original_input json,
        add column iteration_base integer not null default 0;
      alter table ${s}.definitions add column restart_cutoff text collate "C";
      create table ${s}.locals (
        definition_id text not null,
        key text not null,
        value json,
        version integer not null,
        primary key (definition_id, key)
      );
    `,
  },
  {
    version: 5,
    name: 'runs: tenant (context.tenant when a string), indexed for listRuns({ tenant })',
    // A column rather than an index on context->>'tenant': PostgreSQL's json operators parse the
    // whole value and fail on a \u0000 escape or a lone surrogate anywhere in it, which an index
    // expression would turn into a failed insert. The insert sets the column (insert-row.ts).
    // The backfill reads context.tenant where the context's text has no such escape. Where it has
    // one, row by row: the escapes become U+FFFD first, and a tenant holding one is left out (as
    // insert-row.ts leaves out a tenant PostgreSQL text cannot hold), as is a context that still
    // cannot be read. The index covers only runs with a tenant: the others add no entry.
    sql: (s) => `
      alter table ${s}.runs add column tenant text collate "C";
      update ${s}.runs set tenant = context->>'tenant'
        where case when context is null or context::text ~ '\\\\u(0000|[dD][89a-fA-F])' then false
                   else json_typeof(context->'tenant') = 'string' end;
      do $$
      declare
        r record;
        readable json;
      begin
        for r in select id, context from ${s}.runs where context::text ~ '\\\\u(0000|[dD][89a-fA-F])' loop
          begin
            readable := regexp_replace(r.context::text, '\\\\u(0000|[dD][89a-fA-F][0-9a-fA-F]{2})', chr(65533), 'g')::json;
            if json_typeof(readable->'tenant') = 'string' and position(chr(65533) in readable->>'tenant') = 0 then
              update ${s}.runs set tenant = readable->>'tenant' where id = r.id;
            end if;
          exception when others then null;
          end;
        end loop;
      end $$;
      create index runs_tenant_idx on ${s}.runs (tenant, id) where tenant is not null;
    `,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1].version;

/** Validates and double-quotes a schema name. */
export function quoteSchema(schema: string): string {
  if (typeof schema !== 'string' || !SCHEMA_NAME_PATTERN.test(schema)) {
    throw new InvalidArgumentError(`Invalid PostgreSQL schema name ${JSON.stringify(String(schema).slice(0, 80))}: it must match ${SCHEMA_NAME_PATTERN}.`);
  }
  return `"${schema}"`;
}

/** The version recorded in the schema: 0 when it has no migrations table. */
export async function readSchemaVersion(client: ClientBase, schema: string): Promise<number> {
  const s = quoteSchema(schema);
  const exists = await client.query<{ ok: boolean }>(`select to_regclass($1) is not null as ok`, [`${s}.migrations`]);
  if (!exists.rows[0]?.ok) return 0;
  const res = await client.query<{ v: number | null }>(`select max(version) as v from ${s}.migrations`);
  return res.rows[0]?.v ?? 0;
}

/**
 * Brings `schema` to {@link LATEST_SCHEMA_VERSION} on a connected client (which must not be in a
 * transaction). Returns the versions it applied (empty when another node did it first).
 */
export async function migrate(client: ClientBase, schema: string, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const s = quoteSchema(schema);
  const latest = migrations[migrations.length - 1]?.version ?? 0;
  // Cheap check first, outside any lock: the common case (up to date) takes no lock at all.
  const before = await readSchemaVersion(client, schema);
  if (before > latest) throw new SchemaTooNewError(before, latest, `PostgreSQL "${schema}"`);
  if (before === latest) return [];

  await client.query('begin');
  try {
    await client.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [`tasklane:migrate:${schema}`]);
    await client.query(`create schema if not exists ${s}`);
    await client.query(`
      create table if not exists ${s}.migrations (
        version integer primary key,
        name text not null,
        applied_at timestamptz not null default now()
      )`);
    const current = await readSchemaVersion(client, schema);
    if (current > latest) throw new SchemaTooNewError(current, latest, `PostgreSQL "${schema}"`);
    const applied: number[] = [];
    for (const m of migrations) {
      if (m.version <= current) continue;
      await client.query(m.sql(s));
      await client.query(`insert into ${s}.migrations (version, name) values ($1, $2)`, [m.version, m.name]);
      applied.push(m.version);
    }
    await client.query('commit');
    return applied;
  } catch (err) {
    await client.query('rollback').catch(() => undefined);
    throw err;
  }
}
