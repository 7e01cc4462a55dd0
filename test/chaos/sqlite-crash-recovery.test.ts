import 'reflect-metadata';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Container } from 'inversify';
import { registerTasks, sqliteStorage, tasklane, TaskService, TaskEngine } from '../../src';
import { tempDir } from '../helpers/temp-files';
import { exited, spawnSqliteWorker } from '../helpers/sqlite-workers';
import { PoisonStub, WorkStub } from '../fixtures/sqlite-worker-stubs';

describe('SQLite crash recovery with real processes (SIGKILL)', () => {
  const children: ChildProcess[] = [];
  let tmp: ReturnType<typeof tempDir>;
  let container: Container;

  beforeEach(async () => {
    tmp = tempDir();
    container = new Container();
    // a trigger-only node: it never starts its engine (pollMs irrelevant), it only stores runs
    await container.load(tasklane({ storage: sqliteStorage({ file: join(tmp.dir, 'tasks.db') }), nodeId: 'parent' }));
    registerTasks(container, [WorkStub, PoisonStub]);
  });

  afterEach(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.map(exited));
    children.length = 0;
    await container.get(TaskEngine).stop();
    tmp.remove();
  });

  test('runs held by a killed worker are taken up again (attempt 2); every run completes, side effects once per key', async () => {
    const db = join(tmp.dir, 'tasks.db');
    const sink = join(tmp.dir, 'sink.db');
    const service = container.get(TaskService);
    const N = 300;
    // Workers start first, so both compete for the runs as they come in.
    children.push((await spawnSqliteWorker(db, sink, 'w1')).child, (await spawnSqliteWorker(db, sink, 'w2')).child);
    await Promise.all(Array.from({ length: N }, (_, i) => service.trigger({ definition: 'crash.work', input: { key: `k${i}`, ms: 1500 + (i % 5) * 100 } })));

    const reader = new Database(db, { readonly: true });
    const running = () => (reader.prepare("SELECT count(*) AS n FROM tasklane_runs WHERE status = 'running' AND node_id = 'w1'").get() as { n: number }).n;
    const deadline = Date.now() + 20_000;
    while (running() < 40) {
      if (Date.now() > deadline)
        throw new Error(
          `w1 never held 40 runs: ${JSON.stringify(reader.prepare('SELECT status, node_id, count(*) AS n FROM tasklane_runs GROUP BY 1, 2').all())}`,
        );
      await new Promise((r) => setTimeout(r, 20));
    }
    const inFlightAtKill = running();
    children[0].kill('SIGKILL');
    await exited(children[0]);

    const unfinished = () => (reader.prepare("SELECT count(*) AS n FROM tasklane_runs WHERE status IN ('pending','running')").get() as { n: number }).n;
    const end = Date.now() + 60_000;
    while (unfinished() > 0) {
      if (Date.now() > end) throw new Error(`${unfinished()} runs never finished`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const statuses = reader.prepare('SELECT status, count(*) AS n FROM tasklane_runs GROUP BY status').all() as Array<{ status: string; n: number }>;
    expect(statuses).toEqual([{ status: 'success', n: N }]);
    const reclaimed = reader.prepare("SELECT count(*) AS n FROM tasklane_runs WHERE attempt = 2 AND node_id = 'w2'").get() as { n: number };
    expect(reclaimed.n).toBeGreaterThanOrEqual(inFlightAtKill - 5);
    expect((reader.prepare('SELECT max(attempt) AS m FROM tasklane_runs').get() as { m: number }).m).toBe(2);
    reader.close();

    const s = new Database(sink, { readonly: true });
    const keys = s.prepare('SELECT count(DISTINCT key) AS n, count(*) AS total FROM sink').get() as { n: number; total: number };
    s.close();
    expect(keys.n).toBe(N);
    expect(keys.total).toBeLessThanOrEqual(N + inFlightAtKill);
  }, 120_000);

  test('a run that kills its process on every attempt ends failed with CRASH_LOOP after a bounded number of recoveries', async () => {
    const db = join(tmp.dir, 'tasks.db');
    const sink = join(tmp.dir, 'sink.db');
    const service = container.get(TaskService);
    const poison = await service.trigger({ definition: 'crash.poison' });
    const normal = await Promise.all(Array.from({ length: 20 }, (_, i) => service.trigger({ definition: 'crash.work', input: { key: `n${i}`, ms: 10 } })));
    // the supervisor: keeps one worker alive, restarting it whenever it died
    let restarts = 0;
    let worker: ChildProcess | undefined;
    const deadline = Date.now() + 90_000;
    for (;;) {
      const run = await service.get(poison.id);
      if (run?.status === 'failed') break;
      if (Date.now() > deadline) throw new Error(`poison run still ${run?.status}`);
      if (!worker || worker.exitCode !== null || worker.signalCode !== null) {
        if (worker) restarts++;
        worker = (await spawnSqliteWorker(db, sink, `sup${restarts}`)).child;
        children.push(worker);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    const failed = await service.get(poison.id);
    expect(failed?.error?.code).toBe('CRASH_LOOP');
    // maxCrashRecoveries 3: it ran on its first attempt and two recoveries, each killing its worker
    expect(restarts).toBe(3);
    expect(failed?.attempt).toBe(4);
    // the normal runs were not lost: the last worker finishes them
    // wait() reads the shared file at the poll interval: the runs end in another process
    for (const r of normal) expect((await service.wait(r.id, { timeout: 30_000 })).status).toBe('success');
  }, 150_000);
});
