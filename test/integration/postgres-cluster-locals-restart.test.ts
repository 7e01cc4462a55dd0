/**
 * Task locals and restart() on a real cluster: three node processes (test/fixtures/pg-node.ts)
 * sharing one PostgreSQL schema, the test process as a client node that accepts no work
 * (harness: test/helpers/pg-cluster.ts).
 */
import 'reflect-metadata';
import type { DefinitionStats } from '../../src';
import { sleep, useCluster, waitFor } from '../helpers/pg-cluster';
import { describeWithPostgres, withPg } from '../helpers/services';

jest.setTimeout(120_000);

describeWithPostgres('PostgreSQL cluster: task locals and restart', () => {
  const h = useCluster();

  it('50 runs of a concurrency-50 definition update one local at once on 3 node processes: it ends at exactly 50, each run wrote a different count', async () => {
    // pools of 20: the 50 runs cannot all sit on one or two nodes
    await h.cluster([
      { nodeId: 'c1', concurrency: 20 },
      { nodeId: 'c2', concurrency: 20 },
      { nodeId: 'c3', concurrency: 20 },
    ]);
    const svc = h.client!.service;
    const at = Date.now() + 5000; // every run waits for this moment, then updates (the triggers take far less)
    const runs = await Promise.all(Array.from({ length: 50 }, (_, i) => svc.trigger({ definition: 'cluster.counter', input: { key: `c${i}`, at } })));
    const ended = await Promise.all(runs.map((r) => svc.wait<{ node: string; count: number }>(r.id, { timeout: 90_000 })));
    expect(ended.every((r) => r.status === 'success')).toBe(true);
    // compare-and-set: no two runs read the same count and both wrote its successor
    expect(ended.map((r) => r.output!.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    expect({ ...(await svc.locals('cluster.counter')) }).toEqual({ count: 50 });

    const nodes = new Map<string, number>();
    for (const r of ended) nodes.set(r.output!.node, (nodes.get(r.output!.node) ?? 0) + 1);
    expect(nodes.size).toBeGreaterThanOrEqual(2);
    // the updates really raced: runs of several node processes were waiting at the barrier
    const waiting = await withPg(
      async (c) =>
        (
          await c.query<{ node_id: string; n: number }>(
            `select node_id, count(*)::int as n from "${h.schema}".sink where phase = 'count' and at < to_timestamp($1::double precision / 1000) group by node_id`,
            [at],
          )
        ).rows,
    );
    expect(waiting.length).toBeGreaterThanOrEqual(2);
    expect(waiting.reduce((n, r) => n + r.n, 0)).toBeGreaterThanOrEqual(30);
    console.log(`locals: 50 updates at once, runs per node ${JSON.stringify(Object.fromEntries(nodes))}, waiting at the barrier ${JSON.stringify(waiting)}`);
  });

  it('restart() from one node: pending runs aborted, the running one aborted on its node, locals cleared, stats start again on every node process; later runs are not affected', async () => {
    await h.cluster([
      { nodeId: 'r1', concurrency: 5 },
      { nodeId: 'r2', concurrency: 5 },
      { nodeId: 'r3', concurrency: 5 },
    ]);
    const svc = h.client!.service;
    const statsOf = (i: number) => h.nodes[i].call<DefinitionStats | null>('stats', { definition: 'cluster.counter' });
    // quick runs until every node has executed at least two
    for (let round = 0; round < 20; round++) {
      const evals = await Promise.all(h.nodes.map((_, i) => statsOf(i).then((s) => s?.evalNum ?? 0)));
      if (evals.every((n) => n >= 2)) break;
      const batch = await Promise.all(Array.from({ length: 15 }, (_, k) => svc.trigger({ definition: 'cluster.counter', input: { key: `q${round}.${k}` } })));
      await Promise.all(batch.map((r) => svc.wait(r.id, { timeout: 30_000 })));
    }
    const long = await svc.trigger({ definition: 'cluster.counter', input: { key: 'long', ms: 60_000 } });
    await waitFor(async () => (await svc.get(long.id))?.status === 'running', 20_000, 'the long run to start');
    const delayed = await Promise.all([1, 2].map((k) => svc.trigger({ definition: 'cluster.counter', input: { key: `d${k}` }, delay: 60_000 })));
    const before = await Promise.all(h.nodes.map((_, i) => statsOf(i)));
    for (const row of before) {
      expect(row!.evalNum).toBeGreaterThanOrEqual(2);
      expect(row!.queuePeak).toBeGreaterThanOrEqual(2); // the delayed runs are pending
    }
    expect((await svc.locals('cluster.counter')).count).toBeGreaterThanOrEqual(6);

    const result = await svc.restart('cluster.counter', { message: 'cluster restart' });
    expect(result).toEqual({ definitionId: 'cluster.counter', aborted: 2, abortRequested: 1, localsCleared: 1 });
    for (const d of delayed) expect(await svc.get(d.id)).toMatchObject({ status: 'aborted', error: { message: 'cluster restart', code: 'ABORTED' } });
    const longEnded = await svc.wait(long.id, { timeout: 20_000 });
    expect(longEnded).toMatchObject({ status: 'aborted', error: { message: 'cluster restart', code: 'ABORTED' } });
    expect({ ...(await svc.locals('cluster.counter')) }).toEqual({});

    // every node process dropped its stats of the definition (the long run's node may count the
    // iteration its abort ended, which answered after the restart)
    const reset = (row: DefinitionStats | null, i: number) =>
      row !== null &&
      row.errNum === 0 &&
      row.retryNum === 0 &&
      row.queueSize === 0 &&
      row.queuePeak === 0 &&
      row.evalNum <= (h.nodes[i].nodeId === longEnded.nodeId ? 1 : 0);
    await waitFor(async () => (await Promise.all(h.nodes.map((_, i) => statsOf(i)))).every(reset), 10_000, 'the stats of every node to start again');

    // a run triggered after restart() returned starts from cleared locals and runs normally
    await sleep(50);
    const later = await svc.trigger({ definition: 'cluster.counter', input: { key: 'later' } });
    expect(await svc.result(later.id, { timeout: 20_000 })).toMatchObject({ count: 1 });
    expect({ ...(await svc.locals('cluster.counter')) }).toEqual({ count: 1 });
  });
});
