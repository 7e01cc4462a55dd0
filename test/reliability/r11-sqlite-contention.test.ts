/**
 * R11 SQLite multi-process contention: 8 real worker processes (test/fixtures/sqlite-worker.ts) on
 * one database file (WAL, busy_timeout 5 s, claims in BEGIN IMMEDIATE), 5,000 short runs triggered
 * by the test process while the workers already poll. No SQLITE_BUSY reaches a task (every run ends
 * `success` with no error) or the workers' logs (level `warn`, stdout and stderr read whole); no run
 * is claimed twice (the sink holds exactly one side effect per key, attempt 1: a second claim
 * would record a second row or attempt 2); all 5,000 complete. The schema-too-new half of R11 is
 * in the SQLite migration tests.
 * Scale: 5,000 runs take about 10-15 s here (2 cores), 8 worker processes starting included.
 */
import 'reflect-metadata';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Container } from 'inversify';
import { registerTasks, sqliteStorage, tasklane, TaskEngine, TaskService } from '../../src';
import { tempDir } from '../helpers/temp-files';
import { spawnSqliteWorker, type SqliteWorker } from '../helpers/sqlite-workers';
import { WorkStub } from '../fixtures/sqlite-worker-stubs';

const WORKERS = 8;
const RUNS = 5000;

describe('R11 SQLite contention: 8 worker processes on one file', () => {
  let tmp: ReturnType<typeof tempDir>;
  let container: Container;
  const workers: SqliteWorker[] = [];

  beforeEach(async () => {
    tmp = tempDir();
    container = new Container();
    // trigger-only: its engine never starts
    await container.load(tasklane({ storage: sqliteStorage({ file: join(tmp.dir, 'tasks.db') }), nodeId: 'parent' }));
    registerTasks(container, [WorkStub]);
  });

  afterEach(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGKILL');
    await Promise.all(workers.splice(0).map((w) => w.exit));
    await container.get(TaskEngine).stop();
    tmp.remove();
  });

  test(`${RUNS} short runs: no SQLITE_BUSY surfaced or logged, none claimed twice, all complete`, async () => {
    const db = join(tmp.dir, 'tasks.db');
    const sink = join(tmp.dir, 'sink.db');
    const service = container.get(TaskService);
    workers.push(...(await Promise.all(Array.from({ length: WORKERS }, (_, i) => spawnSqliteWorker(db, sink, `w${i}`, { graceMs: 2000, logLevel: 'warn' })))));

    // triggered while the 8 poll: inserts and claims contend for the write lock
    for (let b = 0; b < RUNS; b += 250) {
      await Promise.all(Array.from({ length: 250 }, (_, i) => service.trigger({ definition: 'crash.work', input: { key: `k${b + i}`, ms: 0 } })));
    }

    const reader = new Database(db, { readonly: true });
    try {
      const unfinished = () => (reader.prepare("SELECT count(*) AS n FROM tasklane_runs WHERE status IN ('pending', 'running')").get() as { n: number }).n;
      const end = Date.now() + 60_000;
      while (unfinished() > 0) {
        if (Date.now() > end) throw new Error(`${unfinished()} runs never finished`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const runs = reader.prepare('SELECT status, attempt, error, node_id AS node FROM tasklane_runs').all() as Array<{
        status: string;
        attempt: number;
        error: string | null;
        node: string;
      }>;
      expect(runs).toHaveLength(RUNS);
      expect(runs.filter((r) => r.status !== 'success' || r.attempt !== 1 || r.error !== null).slice(0, 5)).toEqual([]);
      // contention for real: the work was spread over several processes
      expect(new Set(runs.map((r) => r.node)).size).toBeGreaterThanOrEqual(2);
    } finally {
      reader.close();
    }

    const s = new Database(sink, { readonly: true });
    const effects = s.prepare('SELECT key, attempt, count(*) AS n FROM sink GROUP BY key, attempt').all() as Array<{ key: string; attempt: number; n: number }>;
    const total = (s.prepare('SELECT count(*) AS n FROM sink').get() as { n: number }).n;
    s.close();
    expect(effects.filter((e) => e.n !== 1 || e.attempt !== 1).slice(0, 5)).toEqual([]);
    expect(effects).toHaveLength(RUNS);
    expect(total).toBe(RUNS);

    // nothing logged at warn or above, in particular no SQLITE_BUSY / "database is locked"
    const output = workers.flatMap((w) => w.output).join('');
    expect(output).not.toMatch(/BUSY|locked/i);
    expect(output).toBe('');
  }, 90_000);
});
