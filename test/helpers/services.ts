/**
 * The external services the integration tests use, and how a test reaches them.
 *
 * - `PG_URL` / `REDIS_URL`: from TASKLANE_PG_URL / TASKLANE_REDIS_URL, else the machine's defaults.
 * - `describeWithPostgres(name, fn)`: a `describe` that needs PostgreSQL. When it is unreachable the
 *   block FAILS under CI (`CI=true`) and is skipped elsewhere with one loud warning.
 * - `freshPgSchema()`: a schema of its own for one test (`tl_test_<random>`), dropped by `drop()`.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

export const PG_URL = process.env.TASKLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS_URL = process.env.TASKLANE_REDIS_URL ?? 'redis://127.0.0.1:6379';

const IN_CI = process.env.CI === 'true';

function hostPort(url: string, defaultPort: number): { host: string; port: number } {
  try {
    const u = new URL(url);
    return { host: u.hostname || '127.0.0.1', port: u.port ? Number(u.port) : defaultPort };
  } catch {
    return { host: '127.0.0.1', port: defaultPort };
  }
}

const reachability = new Map<string, boolean>();

/** Whether a TCP connection to host:port succeeds within 1 s (checked synchronously, cached). */
function tcpReachableSync(host: string, port: number): boolean {
  const key = `${host}:${port}`;
  const cached = reachability.get(key);
  if (cached !== undefined) return cached;
  const script = `
    const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} });
    const t = setTimeout(() => { s.destroy(); process.exit(1); }, 1000);
    s.on('connect', () => { clearTimeout(t); s.end(); process.exit(0); });
    s.on('error', () => process.exit(1));`;
  const result = spawnSync(process.execPath, ['-e', script], { timeout: 5000, stdio: 'ignore' });
  const ok = result.status === 0;
  reachability.set(key, ok);
  return ok;
}

export function pgReachableSync(): boolean {
  const { host, port } = hostPort(PG_URL, 5432);
  return tcpReachableSync(host, port);
}

/** Whether PostgreSQL answers a query at PG_URL. */
export async function pgAvailable(): Promise<boolean> {
  const client = new Client({ connectionString: PG_URL, connectionTimeoutMillis: 1000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

let warned = false;

/**
 * A describe block that needs PostgreSQL at PG_URL. Unreachable: under CI=true the block fails
 * with a clear error; elsewhere it is skipped after one console.warn.
 */
export function describeWithPostgres(name: string, fn: () => void): void {
  if (pgReachableSync()) {
    describe(name, fn);
    return;
  }
  if (IN_CI) {
    describe(name, () => {
      it('needs PostgreSQL', () => {
        throw new Error(`PostgreSQL unreachable at ${PG_URL} and CI=true: start it (see .ci/run) or set TASKLANE_PG_URL.`);
      });
    });
    return;
  }
  if (!warned) {
    warned = true;
    console.warn(`!!! PostgreSQL unreachable at ${PG_URL}: skipping the PostgreSQL tests (set TASKLANE_PG_URL, or run .ci/run).`);
  }
  describe.skip(name, fn);
}

export function randomSchemaName(prefix = 'tl_test_'): string {
  return `${prefix}${randomBytes(6).toString('hex')}`;
}

/** Runs `fn` with a short-lived client on PG_URL. */
export async function withPg<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: PG_URL });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * A schema name of its own for one test. The schema is created empty by tasklane's migrations when
 * a storage or distribution first starts on it; `drop()` removes it and everything inside.
 */
export async function freshPgSchema(): Promise<{ schema: string; drop(): Promise<void> }> {
  const schema = randomSchemaName();
  return {
    schema,
    drop: () =>
      withPg(async (c) => {
        await c.query(`drop schema if exists "${schema}" cascade`);
      }),
  };
}

/** Terminates the backends of this database (other than its own), optionally only those of one application name or pids. */
export async function terminateBackends(filter: { applicationName?: string; pids?: number[] } = {}): Promise<number> {
  return withPg(async (c) => {
    const res = await c.query<{ n: number }>(
      `select count(*)::int as n from (
         select pg_terminate_backend(pid) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()
           and ($1::text is null or application_name = $1)
           and ($2::int[] is null or pid = any($2::int[]))
       ) t`,
      [filter.applicationName ?? null, filter.pids ?? null],
    );
    return res.rows[0]?.n ?? 0;
  });
}
