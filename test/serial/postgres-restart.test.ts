/**
 * A cluster of node processes under load while the PostgreSQL server restarts.
 *
 * Restarting the server cuts every connection on it, so this file lives in test/serial: plain `jest`
 * ignores it, and `npm test` runs it afterwards, alone (`TASKLANE_SERIAL=1 jest --runInBand`).
 * To run it by itself: TASKLANE_SERIAL=1 npx jest --runInBand
 *
 * It restarts the machine's cluster, the one .ci/run starts:
 *   pg_ctlcluster --skip-systemctl-redirect <first of /etc/postgresql> main restart
 * and does not end before PostgreSQL accepts connections again.
 */
import 'reflect-metadata';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { sleep, useCluster } from '../helpers/pg-cluster';
import { describeWithPostgres, pgAvailable, PG_URL, withPg } from '../helpers/services';

jest.setTimeout(180_000);

const run = promisify(execFile);

/** the version directory of the machine's PostgreSQL cluster, as .ci/run picks it (`ls /etc/postgresql | head -n 1`) */
function clusterVersion(): string {
  let versions: string[];
  try {
    versions = readdirSync('/etc/postgresql').sort();
  } catch {
    versions = [];
  }
  if (versions.length === 0) throw new Error('no PostgreSQL cluster in /etc/postgresql: this test restarts the local server with pg_ctlcluster');
  return versions[0];
}

function pgHostPort(): { host: string; port: string } {
  const u = new URL(PG_URL);
  return { host: u.hostname || '127.0.0.1', port: u.port || '5432' };
}

/** Waits until pg_isready says PostgreSQL accepts connections, and a query goes through. */
async function waitForPostgres(timeoutMs = 60_000): Promise<void> {
  const { host, port } = pgHostPort();
  const end = Date.now() + timeoutMs;
  for (;;) {
    const ready = await run('pg_isready', ['-h', host, '-p', port, '-t', '1']).then(
      () => true,
      () => false,
    );
    if (ready && (await pgAvailable())) return;
    if (Date.now() > end) throw new Error(`PostgreSQL at ${host}:${port} does not accept connections ${timeoutMs} ms after the restart`);
    await sleep(200);
  }
}

describeWithPostgres('PostgreSQL cluster across a server restart', () => {
  // declared before useCluster(): its afterEach runs first, so the schema is dropped on a live server
  afterEach(async () => {
    await waitForPostgres();
  });

  const h = useCluster();

  it('completes a load of 2,000 runs across a PostgreSQL restart', async () => {
    await h.cluster([
      { nodeId: 'r1', leaseMs: 3000 },
      { nodeId: 'r2', leaseMs: 3000 },
      { nodeId: 'r3', leaseMs: 3000 },
    ]);
    const svc = h.client!.service;
    const runs = await Promise.all(Array.from({ length: 2000 }, (_, i) => svc.trigger({ definition: 'cluster.sink', input: { key: `r${i}`, ms: 200 } })));
    await sleep(500);
    const t0 = Date.now();
    try {
      await run('pg_ctlcluster', ['--skip-systemctl-redirect', clusterVersion(), 'main', 'restart']);
    } finally {
      await waitForPostgres();
    }
    console.log(`PostgreSQL restarted and accepting connections again after ${Date.now() - t0} ms`);
    const ended = await Promise.all(runs.map((r) => svc.wait(r.id, { timeout: 90_000 })));
    expect(ended.filter((r) => r.status !== 'success')).toEqual([]);
    const keys = await withPg(async (c) => (await c.query<{ n: number }>(`select count(distinct key)::int as n from "${h.schema}".sink`)).rows[0].n);
    expect(keys).toBe(2000);
    for (const n of h.nodes) expect(await n.call('health')).toMatchObject({ uncaught: 0, unhandled: 0, state: 'started' });
  });
});
