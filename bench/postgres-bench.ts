/**
 * The PostgreSQL section of `npm run bench`: node processes sharing one schema. The bench process
 * is itself a node that accepts nothing: it triggers, waits and aborts; the forked nodes execute.
 */
import 'reflect-metadata';
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Container } from 'inversify';
import { Client } from 'pg';
import { postgresDistribution, postgresStorage, registerTasks, tasklane, TaskEngine, TaskService } from '../src';
import { BenchNoop, BenchPark } from './bench-tasks';
import { formatRate, percentile } from './stats';

const URL = process.env.TASKLANE_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
/** application_name (prefix) of every bench connection, so its backends can be told apart */
export const BENCH_APP_NAME = 'tasklane-bench';
/** rounds of 10,000 runs per cluster size: warm-up, then measured (the median is printed) */
const WARM_UP_ROUNDS = 3;
const ROUNDS = 5;

async function reachable(): Promise<boolean> {
  const c = new Client({ connectionString: URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.end();
    return true;
  } catch {
    return false;
  }
}

async function admin(sql: string): Promise<void> {
  const c = new Client({ connectionString: URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

function spawnNode(schema: string, nodeId: string): Promise<ChildProcess> {
  const child = fork(join(__dirname, 'pg-bench-node.js'), [], {
    env: { ...process.env, TL_BENCH: JSON.stringify({ url: URL, schema, nodeId }), TASKLANE_LOG_LEVEL: 'error' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`bench node ${nodeId} exited with ${code}`)));
  });
}

/** CPU seconds (user + system) a process has used, from /proc; undefined where there is none */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return undefined;
  }
}

/** backends of this database serving the bench's connections */
async function tasklaneBackends(): Promise<number[]> {
  const c = new Client({ connectionString: URL });
  await c.connect();
  try {
    const res = await c.query<{ pid: number }>(`select pid from pg_stat_activity where datname = current_database() and application_name like $1`, [
      `${BENCH_APP_NAME}%`,
    ]);
    return res.rows.map((r) => r.pid);
  } finally {
    await c.end();
  }
}

interface CpuUse {
  bench: number;
  nodes: number;
  server: number;
}

/** CPU used while `work` runs by this process, the node processes and the PostgreSQL backends */
async function measureCpu<T>(nodes: ChildProcess[], work: () => Promise<T>): Promise<{ result: T; cpu?: CpuUse }> {
  const pids = () => [process.pid, ...nodes.map((n) => n.pid!)];
  const before = new Map<number, number>();
  const backendsBefore = await tasklaneBackends();
  for (const pid of [...pids(), ...backendsBefore]) before.set(pid, cpuSeconds(pid) ?? NaN);
  const result = await work();
  const backends = [...new Set([...backendsBefore, ...(await tasklaneBackends())])];
  const used = (pid: number) => (cpuSeconds(pid) ?? NaN) - (before.get(pid) ?? 0);
  const cpu = {
    bench: used(process.pid),
    nodes: nodes.reduce((sum, n) => sum + used(n.pid!), 0),
    server: backends.reduce((sum, pid) => sum + (cpuSeconds(pid) === undefined ? 0 : used(pid)), 0),
  };
  return { result, cpu: Number.isFinite(cpu.bench + cpu.nodes + cpu.server) ? cpu : undefined };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function stopNodes(nodes: ChildProcess[]): Promise<void> {
  await Promise.all(
    nodes.map(
      (n) =>
        new Promise<void>((resolve) => {
          n.once('exit', () => resolve());
          n.send('stop');
        }),
    ),
  );
}

async function cluster(schema: string, workers: number): Promise<{ service: TaskService; engine: TaskEngine; nodes: ChildProcess[] }> {
  const container = new Container();
  await container.load(
    tasklane({
      storage: postgresStorage({ connectionString: URL, schema, applicationName: BENCH_APP_NAME }),
      distribution: postgresDistribution({ connectionString: URL, schema, applicationName: BENCH_APP_NAME }),
      nodeId: 'bench-client',
      accept: { include: [] },
    }),
  );
  registerTasks(container, [BenchNoop, BenchPark]);
  const engine = container.get(TaskEngine);
  await engine.start(); // migrates the schema and listens for finishes
  const nodes = await Promise.all(Array.from({ length: workers }, (_, i) => spawnNode(schema, `bench-${i + 1}`)));
  return { service: container.get(TaskService), engine, nodes };
}

async function withCluster<T>(workers: number, fn: (c: { service: TaskService; nodes: ChildProcess[] }) => Promise<T>): Promise<T> {
  const schema = `tl_bench_${Date.now().toString(36)}_${workers}`;
  const c = await cluster(schema, workers);
  try {
    return await fn(c);
  } finally {
    await stopNodes(c.nodes);
    await c.engine.stop({ graceful: false });
    await admin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  }
}

export async function run(): Promise<void> {
  console.log('\n== PostgreSQL (node processes on one schema; the bench process triggers and waits)');
  if (!(await reachable())) {
    console.log(`PostgreSQL unreachable at ${URL}: section skipped`);
    return;
  }
  const n = 10_000;
  for (const workers of [1, 2, 4]) {
    const rates: number[] = [];
    const cpus: CpuUse[] = [];
    await withCluster(workers, async ({ service, nodes }) => {
      const round = async (): Promise<number> => {
        const t0 = performance.now();
        const runs = await Promise.all(Array.from({ length: n }, () => service.trigger({ definition: BenchNoop })));
        await Promise.all(runs.map((r) => service.wait(r.id)));
        return n / ((performance.now() - t0) / 1000);
      };
      // as for memory and SQLite: the figures of long-lived nodes, after V8 has optimised the hot
      // path in every process (with one warm-up of 500 runs on a fresh cluster, as before, the
      // rounds measured ran at two thirds of the speed: JIT work on the same 2 cores)
      for (let i = 0; i < WARM_UP_ROUNDS; i++) await round();
      for (let i = 0; i < ROUNDS; i++) {
        const { result: rate, cpu } = await measureCpu(nodes, round);
        rates.push(rate);
        if (cpu) cpus.push(cpu);
      }
    });
    const label = `${workers} node process${workers > 1 ? 'es' : ''}`;
    console.log(
      `throughput, ${n.toLocaleString('en-US')} no-op runs, ${label}:  ${formatRate(median(rates))} (median of ${ROUNDS}; ${formatRate(Math.min(...rates))} to ${formatRate(Math.max(...rates))})`,
    );
    if (cpus.length === ROUNDS) {
      const us = (key: keyof CpuUse) => Math.round((median(cpus.map((c) => c[key])) / n) * 1e6);
      console.log(`  CPU per run (medians): bench process ${us('bench')} us, node processes ${us('nodes')} us, PostgreSQL ${us('server')} us`);
    }
  }

  await withCluster(2, async ({ service }) => {
    // pickup: trigger on this node, started on another (startedOn has ms resolution)
    const pickup: number[] = [];
    for (let i = 0; i < 200; i++) {
      const t0 = Date.now();
      const run = await service.trigger({ definition: BenchNoop });
      const done = await service.wait(run.id);
      pickup.push(Date.parse(done.startedOn!) - t0);
      await new Promise((r) => setTimeout(r, 5));
    }
    console.log(`trigger-to-start latency, idle cluster:             p50 ${percentile(pickup, 50)} ms, p99 ${percentile(pickup, 99)} ms`);

    // cross-node abort: from abort() here to the run ended on its node
    const abort: number[] = [];
    for (let i = 0; i < 50; i++) {
      const run = await service.trigger({ definition: BenchPark });
      for (;;) {
        const r = await service.get(run.id);
        if (r?.status === 'running' && r.startedOn) break;
        await new Promise((res) => setTimeout(res, 5));
      }
      const t0 = Date.now();
      await service.abort({ id: run.id });
      const done = await service.wait(run.id);
      abort.push(Date.parse(done.finishedOn!) - t0);
    }
    console.log(`cross-node abort, abort() to run ended:             p50 ${percentile(abort, 50)} ms, p99 ${percentile(abort, 99)} ms`);

    // delay accuracy: start time minus due time, for runs delayed 100-600 ms
    const late: number[] = [];
    const delayed = await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const delay = 100 + (i % 6) * 100;
        const run = await service.trigger({ definition: BenchNoop, delay });
        return { id: run.id, due: Date.parse(run.createdOn) + delay };
      }),
    );
    for (const d of delayed) {
      const done = await service.wait(d.id);
      late.push(Date.parse(done.startedOn!) - d.due);
    }
    console.log(`delayed runs, start minus due time:                 p50 ${percentile(late, 50)} ms, p99 ${percentile(late, 99)} ms`);
  });
}
