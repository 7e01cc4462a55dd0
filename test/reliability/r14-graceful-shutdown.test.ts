/**
 * R14 graceful shutdown with runs in flight. SQLite: a real worker process (test/fixtures/
 * sqlite-worker.ts) gets SIGTERM while it runs 50 runs and 100 more are queued: it claims nothing
 * after the signal, the 50 complete, it exits 0 within grace + 2 s. Past the grace period: each
 * run's signal fires at grace expiry, the runs go back to pending (none left running after exit)
 * and another worker takes them up. PostgreSQL: the same with real node processes
 * (test/fixtures/pg-node.ts, its grace set by `graceMs`). Memory: the same, in process, with
 * engine.stop().
 * (A second SIGTERM forcing exit is the host's signal handling, not tasklane's: not tested here.)
 */
import 'reflect-metadata';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Container } from 'inversify';
import { IsInt, Min } from 'class-validator';
import { memoryStorage, registerTasks, sqliteStorage, Task, tasklane, TaskEngine, TaskService, type TaskDefinition, type TaskRunParams } from '../../src';
import { startHarness } from '../helpers/engine-harness';
import { tempDir } from '../helpers/temp-files';
import { spawnSqliteWorker, type SqliteWorker } from '../helpers/sqlite-workers';
import { ReleaseStub, WorkStub } from '../fixtures/sqlite-worker-stubs';
import { NodeProcess, sinkRows, useCluster, waitFor } from '../helpers/pg-cluster';
import { describeWithPostgres, withPg } from '../helpers/services';

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Row {
  id: string;
  status: string;
  attempt: number;
  started_on: string | null;
  node_id: string | null;
}

describe('R14 SIGTERM of a SQLite worker process with runs in flight', () => {
  let tmp: ReturnType<typeof tempDir>;
  let container: Container;
  let db: string;
  let sink: string;
  const workers: SqliteWorker[] = [];

  beforeEach(async () => {
    tmp = tempDir();
    db = join(tmp.dir, 'tasks.db');
    sink = join(tmp.dir, 'sink.db');
    container = new Container();
    await container.load(tasklane({ storage: sqliteStorage({ file: db }), nodeId: 'parent' }));
    registerTasks(container, [WorkStub, ReleaseStub]);
  });

  afterEach(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.splice(0).map((w) => w.exit));
    await container.get(TaskEngine).stop();
    tmp.remove();
  });

  /** the rows of a query, read on a connection of its own (what is committed) */
  function readAll<T>(file: string, sql: string): T[] {
    const r = new Database(file, { readonly: true });
    try {
      return r.prepare(sql).all() as T[];
    } finally {
      r.close();
    }
  }
  /** SIGTERM to the worker: it exits 0 within grace + 2 s; what it recorded, and when the signal came */
  async function terminate(worker: SqliteWorker, grace: number): Promise<{ seen: Array<{ node: string; what: string; at: number }>; sigterm: number }> {
    const signalled = Date.now();
    worker.child.kill('SIGTERM');
    const { code, at } = await worker.exit;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThanOrEqual(grace + 2000);
    const seen = events();
    return { seen, sigterm: seen.find((e) => e.what === 'sigterm')!.at };
  }
  const rows = (): Row[] => readAll<Row>(db, 'SELECT id, status, attempt, started_on, node_id FROM tasklane_runs');
  const events = () => readAll<{ node: string; what: string; at: number }>(sink, 'SELECT node, what, at FROM events ORDER BY at');
  const sinkRows = () => readAll<{ key: string; node: string; attempt: number }>(sink, 'SELECT key, node, attempt FROM sink');

  test('within grace: no claim after the signal, the (>= 50) runs in flight complete, exit 0 within grace + 2 s', async () => {
    const GRACE = 4000;
    const w1 = await spawnSqliteWorker(db, sink, 'w1', { graceMs: GRACE });
    workers.push(w1);
    const service = container.get(TaskService);
    // concurrency 50: 50 run, 100 wait
    await Promise.all(
      Array.from({ length: 150 }, (_, i) => service.trigger({ definition: 'crash.release', input: { key: `k${i}`, ms: 1000 + (i % 5) * 250 } })),
    );
    await until(() => events().filter((e) => e.what.startsWith('start:')).length >= 50, 20_000, '50 runs in flight');

    const { seen, sigterm } = await terminate(w1, GRACE);
    const started = seen.filter((e) => e.what.startsWith('start:'));
    // nothing started after the signal (claimed-ahead runs were given back unstarted)
    expect(started.filter((e) => e.at > sigterm)).toEqual([]);
    expect(started.length).toBeGreaterThanOrEqual(50);
    // every run in flight at the signal completed, once; no signal fired (all within grace)
    const effects = sinkRows();
    expect(effects.map((e) => e.key).sort()).toEqual(started.map((e) => e.what.slice('start:'.length)).sort());
    expect(seen.filter((e) => e.what.startsWith('aborted:'))).toEqual([]);
    const after = rows();
    expect(after.filter((r) => r.status === 'running')).toEqual([]);
    expect(after.filter((r) => r.status === 'success')).toHaveLength(started.length);
    // the others were left as they were: pending, never started (attempt 0)
    expect(after.filter((r) => r.status !== 'success').every((r) => r.status === 'pending' && r.attempt === 0)).toBe(true);
  }, 180_000); // node processes may take up to NODE_START_MS to start on a busy machine

  test("past grace: each run's signal fires at grace expiry, its run goes back to pending, none is left running; another worker completes them", async () => {
    const GRACE = 1000;
    const w1 = await spawnSqliteWorker(db, sink, 'w1', { graceMs: GRACE });
    workers.push(w1);
    const service = container.get(TaskService);
    const runs = await Promise.all(Array.from({ length: 20 }, (_, i) => service.trigger({ definition: 'crash.release', input: { key: `l${i}`, ms: 30_000 } })));
    await until(() => rows().filter((r) => r.status === 'running').length === 20, 20_000, '20 runs in flight');

    const { seen, sigterm } = await terminate(w1, GRACE);
    const aborted = seen.filter((e) => e.what.startsWith('aborted:'));
    expect(aborted.map((e) => e.what).sort()).toEqual(runs.map((_, i) => `aborted:l${i}`).sort());
    for (const e of aborted) expect(e.at - sigterm).toBeGreaterThanOrEqual(GRACE - 20); // at grace expiry, not before
    const after = rows();
    expect(after.map((r) => r.status)).toEqual(runs.map(() => 'pending'));
    expect(sinkRows()).toEqual([]);

    // retried elsewhere
    workers.push(await spawnSqliteWorker(db, sink, 'w2', { graceMs: GRACE }));
    for (const r of runs) expect(await service.wait(r.id, { timeout: 20_000 })).toMatchObject({ status: 'success', attempt: 2, nodeId: 'w2' });
    const effects = sinkRows();
    expect(effects).toHaveLength(20);
    expect(effects.every((e) => e.node === 'w2' && e.attempt === 2)).toBe(true);
  }, 180_000); // node processes may take up to NODE_START_MS to start on a busy machine
});

describeWithPostgres('R14 SIGTERM of a PostgreSQL node process with runs in flight', () => {
  const h = useCluster();

  /** SIGTERM to the node: it exits 0 within grace + 2 s; when it got the signal (its clock) */
  async function terminate(node: NodeProcess, grace: number): Promise<number> {
    const signalled = Date.now();
    node.child.kill('SIGTERM');
    expect(await node.exited).toBe(0);
    expect(node.exitedAt! - signalled).toBeLessThanOrEqual(grace + 2000);
    expect(node.sigtermAt).toBeDefined();
    return node.sigtermAt!;
  }

  test('within grace: no claim after the signal, the (>= 50) runs in flight complete once, exit 0 within grace + 2 s', async () => {
    const GRACE = 4000;
    const [n1] = await h.cluster([{ nodeId: 'n1', concurrency: 50, graceMs: GRACE }]);
    const service = h.client!.service;
    // concurrency 50: 50 run, 100 wait
    const runs = await Promise.all(
      Array.from({ length: 150 }, (_, i) => service.trigger({ definition: 'cluster.sink', input: { key: `k${i}`, ms: 1000 + (i % 5) * 250 } })),
    );
    await waitFor(async () => (await sinkRows(h.schema)).length >= 50, 20_000, '50 runs in flight');

    const sigterm = await terminate(n1, GRACE);
    // a run's start as the server's clock saw its side effect (same machine as the node's clock);
    // not startedOn: a run claimed ahead and given back keeps the startedOn of that claim
    const starts = await withPg(
      async (c) =>
        (
          await c.query<{ run_id: string; at: number }>(
            `select run_id, (extract(epoch from at) * 1000)::float8 as at from "${h.schema}".sink where phase = 'start'`,
          )
        ).rows,
    );
    // nothing started after the signal (claimed-ahead runs were given back unstarted)
    expect(starts.filter((e) => e.at > sigterm).map((e) => `${e.run_id} started ${Math.round(e.at - sigterm)} ms after SIGTERM`)).toEqual([]);
    expect(starts.length).toBeGreaterThanOrEqual(50);
    expect(new Set(starts.map((e) => e.run_id)).size).toBe(starts.length); // each once
    const after = await Promise.all(runs.map((r) => service.get(r.id)));
    expect(after.filter((r) => r!.status === 'running')).toEqual([]);
    // every run in flight at the signal completed, on its first attempt; the others were left as
    // they were: pending, never started (attempt 0)
    const started = new Set(starts.map((e) => e.run_id));
    expect(after.filter((r) => started.has(r!.id) && (r!.status !== 'success' || r!.attempt !== 1))).toEqual([]);
    expect(after.filter((r) => !started.has(r!.id) && (r!.status !== 'pending' || r!.attempt !== 0))).toEqual([]);
  }, 180_000); // node processes may take up to NODE_START_MS to start on a busy machine

  test("past grace: each run's signal fires at grace expiry, its run goes back to pending, none is left running; another node completes them", async () => {
    const GRACE = 1000;
    const [n1] = await h.cluster([{ nodeId: 'n1', concurrency: 50, graceMs: GRACE }]);
    const service = h.client!.service;
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => service.trigger({ definition: 'cluster.release', input: { key: `l${i}`, ms: 30_000 } })),
    );
    await waitFor(async () => (await sinkRows(h.schema, "phase = 'start'")).length === 20, 20_000, '20 runs in flight');

    const sigterm = await terminate(n1, GRACE);
    const aborted = await sinkRows(h.schema, "phase = 'aborted'");
    expect(aborted.map((e) => e.run_id).sort()).toEqual(runs.map((r) => r.id).sort());
    for (const e of aborted) expect((e.info as { abortedAt: number }).abortedAt - sigterm).toBeGreaterThanOrEqual(GRACE - 20); // at grace expiry, not before
    const after = await Promise.all(runs.map((r) => service.get(r.id)));
    expect(after.map((r) => r!.status)).toEqual(runs.map(() => 'pending'));
    expect(await sinkRows(h.schema, "phase = 'done'")).toEqual([]);

    // retried elsewhere
    h.nodes.push(await NodeProcess.spawn(h.schema, { nodeId: 'n2', graceMs: GRACE }));
    for (const r of runs) expect(await service.wait(r.id, { timeout: 20_000 })).toMatchObject({ status: 'success', attempt: 2, nodeId: 'n2' });
    const done = await sinkRows(h.schema, "phase = 'done'");
    expect(done).toHaveLength(20);
    expect(done.every((e) => e.node_id === 'n2' && e.attempt === 2)).toBe(true);
  }, 180_000); // node processes may take up to NODE_START_MS to start on a busy machine
});

class NapInput {
  @IsInt() @Min(0) ms!: number;
}

@Task({ id: 'r14.nap', title: 'Naps (abortably)', input: NapInput })
class NapTask implements TaskDefinition<NapInput, string> {
  static starts: Array<{ id: string; at: number }> = [];
  static signals: Array<{ id: string; at: number }> = [];
  async run({ input, controller, run }: TaskRunParams<NapInput, string>) {
    NapTask.starts.push({ id: run.id, at: Date.now() });
    controller.signal.addEventListener('abort', () => NapTask.signals.push({ id: run.id, at: Date.now() }));
    if (!(await controller.sleep(input.ms))) return controller.response.aborted();
    return controller.response.done('napped');
  }
}

describe('R14 graceful stop with runs in flight (memory, in process)', () => {
  beforeEach(() => {
    NapTask.starts = [];
    NapTask.signals = [];
  });

  test('within the timeout: nothing starts after stop(), the 20 in flight complete; past it: signals fire, runs back to pending, none running', async () => {
    const storage = memoryStorage();
    const h = await startHarness({ storage, tasks: [NapTask], concurrency: 20, pollMs: 50 });
    const quick = await Promise.all(Array.from({ length: 60 }, () => h.service.trigger({ definition: NapTask, input: { ms: 300 } })));
    await until(() => NapTask.starts.length >= 20, 5000, '20 runs in flight');
    const inFlight = NapTask.starts.map((s) => s.id);
    const stopping = Date.now();
    await h.engine.stop({ graceful: true, timeout: 5000 });
    expect(NapTask.starts.filter((s) => s.at > stopping)).toEqual([]);
    const after = await Promise.all(quick.map((r) => storage.getRun(r.id)));
    expect(
      after
        .filter((r) => r?.status === 'success')
        .map((r) => r!.id)
        .sort(),
    ).toEqual([...inFlight].sort());
    expect(after.filter((r) => r?.status !== 'success').every((r) => r?.status === 'pending')).toBe(true);
    expect(NapTask.signals).toEqual([]);

    await h.engine.start();
    for (const r of quick) await h.service.wait(r.id, { timeout: 10_000 });
    NapTask.starts = [];
    const long = await Promise.all(Array.from({ length: 20 }, () => h.service.trigger({ definition: NapTask, input: { ms: 30_000 } })));
    await until(() => NapTask.starts.length === 20, 5000, '20 long runs in flight');
    const stopped = Date.now();
    await h.engine.stop({ graceful: true, timeout: 300 });
    expect(NapTask.signals.map((s) => s.id).sort()).toEqual(long.map((r) => r.id).sort());
    for (const s of NapTask.signals) expect(s.at - stopped).toBeGreaterThanOrEqual(290);
    expect((await Promise.all(long.map((r) => storage.getRun(r.id)))).map((r) => r?.status)).toEqual(long.map(() => 'pending'));
    await h.stop();
  });
});
