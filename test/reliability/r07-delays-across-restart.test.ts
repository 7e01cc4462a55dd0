/**
 * R07 delayed runs survive a restart of every worker, scaled down: 200 runs due 1-10 s after they
 * were triggered, every worker process stopped (SIGTERM / stop) at about 3 s and new ones started.
 * No run starts before its due time in storage time (SQLite: the machine's clock; PostgreSQL: the
 * server's, as the engine reads it); every run completes exactly once (one side effect per key,
 * attempt 1); runs triggered once the new workers are up start within the poll interval + 1 s of
 * their due time.
 */
import 'reflect-metadata';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Container } from 'inversify';
import { registerTasks, sqliteStorage, tasklane, TaskEngine, TaskService, type TaskRun } from '../../src';
import { NodeProcess, sinkRows, sleep, useCluster } from '../helpers/pg-cluster';
import { describeWithPostgres } from '../helpers/services';
import { tempDir } from '../helpers/temp-files';
import { exited, spawnSqliteWorker } from '../helpers/sqlite-workers';
import { ReleaseStub } from '../fixtures/sqlite-worker-stubs';

const RUNS = 200;
// 1-10 s: starting new worker processes takes a second or two on this 2-core machine, more
// when the suite runs beside it, so runs remain due after
const delayOf = (i: number) => 1000 + Math.round((i * 9000) / (RUNS - 1));
const RESTART_AT = 3000;

/** runs triggered once the new workers are up, due 0.5-1.5 s later: the idle pickup is measured on them */
const IDLE = 20;
const idleDelayOf = (i: number) => 500 + i * 50;

/**
 * The checks of both adapters. `triggered` are the runs as trigger() answered (their runAt: the due
 * time stored, in storage time; an ended run no longer shows it), the last IDLE of them triggered
 * after the new workers were all ready.
 */
function checkRuns(triggered: TaskRun[], ended: TaskRun[], keysOnce: Map<string, number>, pollMs: number): void {
  const due = new Map(triggered.map((r) => [r.id, Date.parse(r.runAt!)]));
  expect([...due.values()].filter((t) => !Number.isFinite(t))).toEqual([]);
  for (const r of ended) r.runAt = new Date(due.get(r.id)!).toISOString();
  expect(ended.filter((r) => r.status !== 'success' || r.attempt !== 1)).toEqual([]);
  const early = ended.filter((r) => Date.parse(r.startedOn!) < Date.parse(r.runAt!));
  expect(early.map((r) => `${r.name} started ${Date.parse(r.runAt!) - Date.parse(r.startedOn!)} ms early`)).toEqual([]);
  expect(keysOnce.size).toBe(RUNS + IDLE);
  expect([...keysOnce.entries()].filter(([, n]) => n !== 1)).toEqual([]);
  // at idle (triggered and due after the new workers were up), a run starts within a poll interval + 1 s
  const idle = ended.slice(RUNS);
  expect(idle).toHaveLength(IDLE);
  const late = idle.filter((r) => Date.parse(r.startedOn!) - Date.parse(r.runAt!) > pollMs + 1000);
  expect(late.map((r) => `${r.name} ${Date.parse(r.startedOn!) - Date.parse(r.runAt!)} ms late`)).toEqual([]);
}

describe('R07 delayed runs across a restart of every SQLite worker process', () => {
  let tmp: ReturnType<typeof tempDir>;
  let container: Container;
  const children: ChildProcess[] = [];

  beforeEach(async () => {
    tmp = tempDir();
    container = new Container();
    await container.load(tasklane({ storage: sqliteStorage({ file: join(tmp.dir, 'tasks.db') }), nodeId: 'parent', pollMs: 100 }));
    registerTasks(container, [ReleaseStub]);
  });

  afterEach(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(children.splice(0).map(exited));
    await container.get(TaskEngine).stop();
    tmp.remove();
  });

  test('200 runs due in 1-10 s, both workers restarted at 3 s: none early, all once, on time at idle', async () => {
    const db = join(tmp.dir, 'tasks.db');
    const sink = join(tmp.dir, 'sink.db');
    const service = container.get(TaskService);
    const old = (await Promise.all(['w1', 'w2'].map((id) => spawnSqliteWorker(db, sink, id, { graceMs: 2000 })))).map((w) => w.child);
    children.push(...old);
    const t0 = Date.now();
    const runs = await Promise.all(
      Array.from({ length: RUNS }, (_, i) =>
        service.trigger({ definition: 'crash.release', name: `d${i}`, input: { key: `d${i}`, ms: 0 }, delay: delayOf(i) }),
      ),
    );
    await sleep(Math.max(0, t0 + RESTART_AT - Date.now()));
    for (const c of old) c.kill('SIGTERM');
    expect(await Promise.all(old.map(exited))).toEqual([0, 0]);
    const fresh = (await Promise.all(['w3', 'w4'].map((id) => spawnSqliteWorker(db, sink, id, { graceMs: 2000 })))).map((w) => w.child);
    children.push(...fresh);
    runs.push(
      ...(await Promise.all(
        Array.from({ length: IDLE }, (_, i) =>
          service.trigger({ definition: 'crash.release', name: `i${i}`, input: { key: `i${i}`, ms: 0 }, delay: idleDelayOf(i) }),
        ),
      )),
    );

    const ended = await Promise.all(runs.map((r) => service.wait(r.id, { timeout: 30_000 })));
    const s = new Database(sink, { readonly: true });
    const keys = new Map((s.prepare('SELECT key, count(*) AS n FROM sink GROUP BY key').all() as Array<{ key: string; n: number }>).map((r) => [r.key, r.n]));
    s.close();
    checkRuns(runs, ended, keys, 100);
    // some ran before the restart, some after: the restart really was in the middle
    expect(ended.some((r) => ['w1', 'w2'].includes(r.nodeId!))).toBe(true);
    expect(ended.some((r) => ['w3', 'w4'].includes(r.nodeId!))).toBe(true);
  }, 180_000); // node processes may take up to NODE_START_MS to start on a busy machine
});

describeWithPostgres('R07 delayed runs across a restart of every PostgreSQL node process', () => {
  const h = useCluster();

  it('200 runs due in 1-10 s, both nodes restarted at 3 s: none early in server time, all once, on time at idle', async () => {
    await h.cluster([{ nodeId: 'n1' }, { nodeId: 'n2' }]);
    const svc = h.client!.service;
    const t0 = Date.now();
    const runs = await Promise.all(
      Array.from({ length: RUNS }, (_, i) => svc.trigger({ definition: 'cluster.sink', name: `d${i}`, input: { key: `d${i}` }, delay: delayOf(i) })),
    );
    await sleep(Math.max(0, t0 + RESTART_AT - Date.now()));
    await Promise.all(h.nodes.map((n) => n.stop()));
    h.nodes = await Promise.all(['n3', 'n4'].map((nodeId) => NodeProcess.spawn(h.schema, { nodeId })));
    runs.push(
      ...(await Promise.all(
        Array.from({ length: IDLE }, (_, i) => svc.trigger({ definition: 'cluster.sink', name: `i${i}`, input: { key: `i${i}` }, delay: idleDelayOf(i) })),
      )),
    );

    const ended = await Promise.all(runs.map((r) => svc.wait(r.id, { timeout: 30_000 })));
    const keys = new Map<string, number>();
    for (const row of await sinkRows(h.schema)) keys.set(row.key, (keys.get(row.key) ?? 0) + 1);
    checkRuns(runs, ended, keys, 1000);
    expect(ended.some((r) => ['n1', 'n2'].includes(r.nodeId!))).toBe(true);
    expect(ended.some((r) => ['n3', 'n4'].includes(r.nodeId!))).toBe(true);
  }, 180_000); // node processes may take up to NODE_START_MS to start on a busy machine
});
