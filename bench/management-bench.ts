/**
 * The management section of `npm run bench` (printed, never asserted):
 * - triggerTask over HTTP: runs/s and per-request latency with 50 concurrent clients, beside the
 *   same 50 callers of TaskService.trigger() in process (the difference is the API's overhead);
 * - listTasks latency, first page and a deep page (after 90,000 runs), with 100,000 runs stored in
 *   SQLite and in PostgreSQL, and the query plans of the keyset page (EXPLAIN).
 */
import 'reflect-metadata';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Container } from 'inversify';
import { Client } from 'pg';
import { memoryStorage, postgresStorage, registerTasks, sqliteStorage, tasklane, TaskEngine, TaskService, type RunStorage } from '../src';
import { serveManagement, tokenAuth } from '../src/management';
import { BenchNoop } from './bench-tasks';
import { formatRate, percentile } from './stats';

const PG_URL = process.env.TASKLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = 'bench-token-0123456789abcdef';
const CLIENTS = 50;

async function container(storage: RunStorage): Promise<Container> {
  const c = new Container();
  await c.load(tasklane({ storage }));
  registerTasks(c, [BenchNoop]);
  return c;
}

function summary(latencies: number[]): string {
  return `p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`;
}

/** `clients` callers, each doing `call` one after another, `total` calls in all */
async function load(total: number, call: () => Promise<unknown>): Promise<{ perSecond: number; latencies: number[] }> {
  const latencies: number[] = [];
  let left = total;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (left-- > 0) {
        const t = performance.now();
        await call();
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { perSecond: (total / (performance.now() - started)) * 1000, latencies };
}

async function triggerOverHttp(): Promise<void> {
  console.log('\n== management API: triggerTask over HTTP (memory storage, 50 concurrent clients)');
  const c = await container(memoryStorage());
  const engine = c.get(TaskEngine);
  await engine.start();
  const server = await serveManagement({ container: c, auth: tokenAuth({ tokens: [{ token: TOKEN, role: 'operator' }] }), dashboard: false });
  const body = JSON.stringify({ query: 'mutation { backgroundTasks { triggerTask(definition: "bench.noop") { id } } }' });
  // node:http with keep-alive, not fetch: the client shares this process, and fetch's own cost
  // (undici, web streams) would be counted as the server's
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const http = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(
        `${server.url}/graphql`,
        { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, 'content-length': Buffer.byteLength(body) } },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => (res.statusCode === 200 && !text.includes('"errors"') ? resolve() : reject(new Error(`triggerTask failed: ${text}`))));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const service = c.get(TaskService);
  try {
    await load(1000, http); // warm-up
    const direct = await load(10_000, () => service.trigger({ definition: 'bench.noop' }));
    const api = await load(10_000, http);
    console.log(`in process, TaskService.trigger():   ${formatRate(direct.perSecond)}; ${summary(direct.latencies)}`);
    console.log(`over HTTP, triggerTask:               ${formatRate(api.perSecond)}; ${summary(api.latencies)}`);
    console.log(
      `the API's overhead per request:        ~${(1000 / api.perSecond - 1000 / direct.perSecond).toFixed(3)} ms of server time (p50 latency +${(percentile(api.latencies, 50) - percentile(direct.latencies, 50)).toFixed(2)} ms)`,
    );
  } finally {
    agent.destroy();
    await server.close();
    await engine.stop({ graceful: false });
  }
}

async function listTasksLatency(label: string, storage: RunStorage, explain: (cursor: string) => Promise<string[]>): Promise<void> {
  console.log(`\n== management API: listTasks with 100,000 runs stored (${label})`);
  const c = await container(storage);
  const service = c.get(TaskService);
  // the engine is not started: the runs stay pending, as a backlog would
  for (let i = 0; i < 100_000; i += 1000) await Promise.all(Array.from({ length: 1000 }, () => service.trigger({ definition: 'bench.noop' })));
  const server = await serveManagement({ container: c, auth: tokenAuth({ tokens: [{ token: TOKEN, role: 'viewer' }] }), dashboard: false });
  const page = async (after: string | undefined, where = '') => {
    const res = await fetch(`${server.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        query: `query($after: String) { backgroundTasks { listTasks(${where}limit: 50, after: $after) { items { id status createdOn } cursor } } }`,
        variables: { after },
      }),
    });
    return ((await res.json()) as { data: { backgroundTasks: { listTasks: { cursor: string | null } } } }).data.backgroundTasks.listTasks.cursor ?? undefined;
  };
  try {
    // the cursor after 90,000 runs (cursors are opaque: walked to, 1,000 at a time)
    let deep: string | undefined;
    for (let i = 0; i < 90; i++) deep = (await service.listRuns({ limit: 1000, cursor: deep })).cursor;
    const measure = async (after: string | undefined, where?: string) => {
      const latencies: number[] = [];
      for (let i = 0; i < 200; i++) {
        const t = performance.now();
        await page(after, where);
        latencies.push(performance.now() - t);
      }
      return summary(latencies);
    };
    await measure(undefined); // warm-up
    console.log(`first page (50 runs):                    ${await measure(undefined)}`);
    console.log(`deep page, after 90,000 runs:            ${await measure(deep)}`);
    console.log(`deep page of one definition:             ${await measure(deep, 'where: { definitionId: "bench.noop" }, ')}`);
    for (const line of await explain(deep!)) console.log(`  plan: ${line}`);
  } finally {
    await server.close();
    await storage.close();
  }
}

export async function run(only?: string): Promise<void> {
  if (!only || only === 'management' || only === 'management:http') await triggerOverHttp();
  if (!only || only === 'management' || only === 'management:list') {
    const tmp = mkdtempSync(join(tmpdir(), 'tasklane-bench-mgmt-'));
    const file = join(tmp, 'runs.db');
    try {
      await listTasksLatency('SQLite', sqliteStorage({ file }), async (cursor) => {
        const db = new Database(file, { readonly: true });
        try {
          const plan = (sql: string, ...params: unknown[]) =>
            (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail).join('; ');
          return [
            `all runs: ${plan('SELECT id FROM tasklane_runs WHERE id < ? ORDER BY id DESC LIMIT 51', cursor)}`,
            `one definition: ${plan('SELECT id FROM tasklane_runs WHERE definition_id = ? AND id < ? ORDER BY id DESC LIMIT 51', 'bench.noop', cursor)}`,
          ];
        } finally {
          db.close();
        }
      });
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    const pg = new Client({ connectionString: PG_URL, connectionTimeoutMillis: 2000 });
    try {
      await pg.connect();
    } catch {
      console.log(`\n== management API on PostgreSQL: no server at ${PG_URL}, skipped`);
      return;
    }
    const schema = `tl_bench_mgmt_${process.pid}`;
    try {
      await listTasksLatency('PostgreSQL', postgresStorage({ connectionString: PG_URL, schema }), async (cursor) => {
        const plan = async (sql: string, params: unknown[]) =>
          (await pg.query<{ 'QUERY PLAN': string }>(`explain (analyze, costs off, timing off, summary off) ${sql}`, params)).rows
            .map((r) => r['QUERY PLAN'].trim())
            .slice(0, 3)
            .join(' / ');
        return [`all runs: ${await plan(`select id from "${schema}".runs where id < $1 order by id desc limit 51`, [cursor])}`];
      });
    } finally {
      await pg.query(`drop schema if exists "${schema}" cascade`);
      await pg.end();
    }
  }
}
