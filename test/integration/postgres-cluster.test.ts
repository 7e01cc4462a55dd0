/**
 * A real cluster: node processes (test/fixtures/pg-node.ts) sharing one PostgreSQL schema, and this
 * test process as a client node that accepts no work but triggers, waits and aborts.
 * Every scenario gets its own schema and its own nodes (harness: test/helpers/pg-cluster.ts).
 * The scenario that restarts the PostgreSQL server runs alone, after everything else:
 * test/serial/postgres-restart.test.ts.
 */
import 'reflect-metadata';
import { NoEligibleNodeError, runWithContext, TaskAbortedError, type TaskRun } from '../../src';
import { expectMostWithin } from '../helpers/latency';
import { NodeProcess, sinkRows, sleep, useCluster, waitFor } from '../helpers/pg-cluster';
import { describeWithPostgres, withPg } from '../helpers/services';

jest.setTimeout(240_000); // node processes may take up to NODE_START_MS to start on a busy machine

describeWithPostgres('PostgreSQL cluster of node processes', () => {
  const h = useCluster();

  it('runs 5,000 runs over 3 nodes: exactly 5,000 side effects, none twice, none missing', async () => {
    await h.cluster([{ nodeId: 'n1' }, { nodeId: 'n2' }, { nodeId: 'n3' }]);
    const svc = h.client!.service;
    const t0 = Date.now();
    const runs = await Promise.all(Array.from({ length: 5000 }, (_, i) => svc.trigger({ definition: 'cluster.sink', input: { key: `k${i}` } })));
    const ended = await Promise.all(runs.map((r) => svc.wait(r.id, { timeout: 90_000 })));
    const took = Date.now() - t0;
    expect(ended.every((r) => r.status === 'success')).toBe(true);
    const counts = await withPg(
      async (c) =>
        (
          await c.query<{ total: number; keys: number; nodes: number }>(
            `select count(*)::int as total, count(distinct key)::int as keys, count(distinct node_id)::int as nodes from "${h.schema}".sink`,
          )
        ).rows[0],
    );
    expect(counts).toEqual({ total: 5000, keys: 5000, nodes: 3 });
    const byNode = new Map<string, number>();
    for (const r of ended) byNode.set(r.nodeId as string, (byNode.get(r.nodeId as string) ?? 0) + 1);
    expect([...byNode.keys()].sort()).toEqual(['n1', 'n2', 'n3']);
    console.log(`5,000 runs over 3 nodes in ${took} ms (${Math.round(5000 / (took / 1000))} runs/s); per node ${JSON.stringify(Object.fromEntries(byNode))}`);
  });

  it('takes up the runs of a SIGKILLed node holding >= 100 in flight: all complete, those it held with attempt 2', async () => {
    await h.cluster([
      { nodeId: 'k1', concurrency: 150, leaseMs: 3000 },
      { nodeId: 'k2', concurrency: 150, leaseMs: 3000 },
      { nodeId: 'k3', concurrency: 150, leaseMs: 3000 },
    ]);
    const svc = h.client!.service;
    const runs = await Promise.all(Array.from({ length: 450 }, (_, i) => svc.trigger({ definition: 'cluster.sink', input: { key: `s${i}`, ms: 4000 } })));
    let victim: NodeProcess | undefined;
    await waitFor(
      async () => {
        for (const n of h.nodes) if ((await n.call<number>('inflight')) >= 100) victim = n;
        return victim !== undefined;
      },
      20_000,
      'a node with 100 runs in flight',
    );
    const held = await victim!.call<number>('inflight');
    await victim!.kill('SIGKILL');
    const ended = await Promise.all(runs.map((r) => svc.wait(r.id, { timeout: 60_000 })));
    expect(ended.every((r) => r.status === 'success')).toBe(true);

    // what each execution recorded (a run the victim claimed may have died before recording)
    const rows = await sinkRows(h.schema, `phase = 'start'`);
    const byRun = new Map<string, typeof rows>();
    for (const r of rows) byRun.set(r.run_id, [...(byRun.get(r.run_id) ?? []), r]);
    const retaken = ended.filter((r) => r.attempt === 2);
    expect(retaken.length).toBeGreaterThanOrEqual(100);
    expect(retaken.length).toBeGreaterThanOrEqual(held - 5); // it had no time to finish what it held
    for (const r of ended) {
      const execs = byRun.get(r.id) ?? [];
      const survivors = execs.filter((e) => e.node_id !== victim!.nodeId);
      if (r.attempt === 1) {
        // never touched by the victim: executed once, where it ended
        expect(execs.map((e) => [e.node_id, e.attempt])).toEqual([[r.nodeId, 1]]);
      } else {
        // held by the victim: taken up once by a live node, with attempt 2
        expect(r.attempt).toBe(2);
        expect(r.nodeId).not.toBe(victim!.nodeId);
        expect(survivors.map((e) => [e.node_id, e.attempt])).toEqual([[r.nodeId, 2]]);
        expect(execs.length - survivors.length).toBeLessThanOrEqual(1);
      }
    }
    expect(new Set(rows.map((r) => r.key)).size).toBe(450);
  });

  it('aborts across nodes within 100 ms (most; every one within a second; from the client and from another node), and wait() sees it everywhere', async () => {
    const [east, west] = await h.cluster([
      { nodeId: 'east', accept: { include: ['cluster.*'] } },
      { nodeId: 'west', accept: { include: ['west.*'] } },
    ]);
    const svc = h.client!.service;
    const latencies: number[] = [];
    for (const [i, abortFrom] of ['client', 'west', 'client', 'west', 'client', 'west'].entries()) {
      const run = await svc.trigger({ definition: 'cluster.forever', input: { key: `f${i}` } });
      await waitFor(async () => (await sinkRows(h.schema, `key = 'f${i}' and phase = 'start'`)).length === 1, 10_000, 'the run to start');
      const waitedElsewhere = west.call<TaskRun>('wait', { runId: run.id, timeout: 10_000 });
      const t0 = Date.now();
      if (abortFrom === 'client') await svc.abort({ id: run.id });
      else await west.call('abort', { runId: run.id });
      await expect(svc.result(run.id, { timeout: 10_000 })).rejects.toBeInstanceOf(TaskAbortedError);
      expect((await waitedElsewhere).status).toBe('aborted');
      const [row] = await sinkRows(h.schema, `key = 'f${i}' and phase = 'aborted'`);
      expect(row.node_id).toBe('east');
      expect(row.info).toMatchObject({ sawIsAborted: true });
      latencies.push((row.info as { abortedAt: number }).abortedAt - t0);
    }
    expectMostWithin(latencies, 100); // exact figures: npm run bench (PostgreSQL abort latency)
    expect((await east.call<{ unhandled: number }>('health')).unhandled).toBe(0);
  });

  it('honours accept rules: east/west jobs run where accepted, NoEligibleNodeError stores nothing, non-distributable runs at home; wait() across nodes', async () => {
    const [east, west] = await h.cluster([
      { nodeId: 'east', accept: { include: ['east.*'] } },
      { nodeId: 'west', accept: { include: ['west.*'], exclude: ['west.secret'] } },
    ]);
    const svc = h.client!.service;
    const eastRuns = await Promise.all(Array.from({ length: 10 }, (_, i) => svc.trigger({ definition: 'east.job', input: { key: `e${i}` } })));
    const westRuns = await Promise.all(Array.from({ length: 10 }, (_, i) => svc.trigger({ definition: 'west.job', input: { key: `w${i}` } })));
    for (const r of await Promise.all(eastRuns.map((r) => svc.wait(r.id, { timeout: 20_000 })))) expect(r).toMatchObject({ status: 'success', nodeId: 'east' });
    for (const r of await Promise.all(westRuns.map((r) => svc.wait(r.id, { timeout: 20_000 })))) expect(r).toMatchObject({ status: 'success', nodeId: 'west' });

    await expect(svc.trigger({ definition: 'north.job', input: { key: 'n' } })).rejects.toBeInstanceOf(NoEligibleNodeError);
    await expect(east.call('trigger', { options: { definition: 'north.job', input: { key: 'n' } } })).rejects.toMatchObject({ code: 'NO_ELIGIBLE_NODE' });
    expect((await svc.listRuns({ definition: 'north.job' })).items).toEqual([]);

    // a node that does not accept east.* triggers one and waits for it, executed by the other node
    const fromWest = await west.call<TaskRun>('trigger', { options: { definition: 'east.job', input: { key: 'from-west' } } });
    const result = await west.call<{ node: string }>('result', { runId: fromWest.id, timeout: 20_000 });
    expect(result).toEqual({ node: 'east' });

    // distributable: false runs on the node that triggered it, whatever its accept rules
    const local = await west.call<TaskRun>('trigger', { options: { definition: 'local.job', input: { key: 'home' } } });
    expect(await east.call('result', { runId: local.id, timeout: 20_000 })).toEqual({ node: 'west' });
  });

  it('propagates the trigger context to the node that runs the task, and on to its child runs elsewhere', async () => {
    await h.cluster([
      { nodeId: 'east', accept: { include: ['east.*'] } },
      { nodeId: 'west', accept: { include: ['west.*'] } },
    ]);
    const svc = h.client!.service;
    const context = { tenant: 'acme', user: 'u-42', locale: 'fr-CA' };
    const run = await runWithContext(context, () => svc.trigger({ definition: 'east.context', input: { key: 'ctx', child: true } }));
    expect(run.context).toEqual(context);
    const output = (await svc.result(run.id, { timeout: 20_000 })) as { node: string; childId: string };
    expect(output.node).toBe('east');
    const child = await svc.wait(output.childId, { timeout: 20_000 });
    expect(child).toMatchObject({ status: 'success', nodeId: 'west', parentId: run.id, context });
    const rows = await sinkRows(h.schema, `phase = 'context'`);
    expect(rows.map((r) => [r.key, r.node_id, r.info])).toEqual([
      ['ctx', 'east', { context }],
      ['ctx.child', 'west', { context }],
    ]);
  });

  it('fires a schedule exactly once per tick across 3 nodes, with a node restarted in between', async () => {
    await h.cluster([
      { nodeId: 'c1', cron: true },
      { nodeId: 'c2', cron: true },
      { nodeId: 'c3', cron: true },
    ]);
    const ticks = async () => sinkRows(h.schema, `phase = 'tick'`);
    await waitFor(async () => (await ticks()).length >= 2, 15_000, 'two ticks');
    // restart c2: graceful stop, then a new process with the same node id
    await h.nodes[1].stop();
    await sleep(1200);
    h.nodes[1] = await NodeProcess.spawn(h.schema, { nodeId: 'c2', cron: true });
    const restartedAt = Date.now();
    await waitFor(async () => (await ticks()).length >= 7 && Date.now() - restartedAt > 2500, 20_000, 'more ticks');
    await Promise.all(h.nodes.map((n) => n.stop()));
    await sleep(300);
    const rows = await ticks();
    const fired = rows.map((r) => (r.info as { scheduledFor: string }).scheduledFor);
    const counts = new Map<string, number>();
    for (const f of fired) counts.set(f, (counts.get(f) ?? 0) + 1);
    expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
    const times = [...counts.keys()].map((t) => Date.parse(t)).sort((a, b) => a - b);
    expect(times.length).toBeGreaterThanOrEqual(5);
    // no tick lost while a node was up: consecutive seconds
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBe(1000);
    // and the work was shared (the tick runs are distributable)
    expect(new Set(rows.map((r) => r.node_id)).size).toBeGreaterThanOrEqual(2);
  });

  it('completes a load of 2,000 runs while PostgreSQL backends are terminated again and again', async () => {
    await h.cluster([
      { nodeId: 't1', leaseMs: 3000 },
      { nodeId: 't2', leaseMs: 3000 },
      { nodeId: 't3', leaseMs: 3000 },
    ]);
    const svc = h.client!.service;
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      const runs = await Promise.all(Array.from({ length: 2000 }, (_, i) => svc.trigger({ definition: 'cluster.sink', input: { key: `t${i}`, ms: 150 } })));
      let kills = 0;
      let terminated = 0;
      const killer = (async () => {
        for (let i = 0; i < 12; i++) {
          await sleep(250);
          terminated += await withPg(
            async (c) =>
              (
                await c.query<{ n: number }>(
                  `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
                 where datname = current_database() and application_name like $1 and pid <> pg_backend_pid()`,
                  [`${h.schema}-%`],
                )
              ).rows[0].n,
          );
          kills++;
        }
      })();
      const ended = await Promise.all(runs.map((r) => svc.wait(r.id, { timeout: 90_000 })));
      await killer;
      expect(kills).toBe(12);
      expect(terminated).toBeGreaterThan(kills);
      expect(ended.filter((r) => r.status !== 'success')).toEqual([]);
      const keys = await withPg(async (c) => (await c.query<{ n: number }>(`select count(distinct key)::int as n from "${h.schema}".sink`)).rows[0].n);
      expect(keys).toBe(2000);
      for (const n of h.nodes) {
        const health = await n.call<{ uncaught: number; unhandled: number; state: string }>('health');
        expect(health).toMatchObject({ uncaught: 0, unhandled: 0, state: 'started' });
      }
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
    expect(unhandled).toEqual([]);
  });
});
