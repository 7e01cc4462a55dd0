/**
 * R03 stale holder is fenced, with a real stall, on PostgreSQL: a `cluster.stall` run blocks the
 * event loop of the node process that claimed it (a busy loop) for more than three leases, so that
 * node renews nothing. The other node takes the run over once the lease has run out and completes
 * it (attempt 2). Then the stalled node wakes, its task answers `done`, and its write is refused:
 * the node logs LEASE_LOST (counted by test/fixtures/pg-node.ts), and the stored run keeps the
 * second attempt's output. The stalled node goes on working normally afterwards.
 * (In one process, on memory, SQLite and PostgreSQL, a clock a minute behind simulates the stall:
 * "a node that lost its lease cannot complete the run" in test/conformance/engine-conformance.ts.)
 */
import type { TaskRun } from '../../src';
import { sinkRows, useCluster, waitFor } from '../helpers/pg-cluster';
import { describeWithPostgres } from '../helpers/services';

const LEASE_MS = 1500;
const STALL_MS = 5000;

interface Health {
  uncaught: number;
  unhandled: number;
  leaseLost: number;
}

describeWithPostgres('R03 a stalled node process is fenced off its run', () => {
  const h = useCluster();

  test('the run is completed by the other node (attempt 2); the stalled node’s late answer is refused and logged LEASE_LOST', async () => {
    const nodes = await h.cluster([
      { nodeId: 'p', leaseMs: LEASE_MS },
      { nodeId: 'q', leaseMs: LEASE_MS },
    ]);
    const service = h.client!.service;
    const run = await service.trigger({ definition: 'cluster.stall', input: { key: 'stall', ms: STALL_MS } });

    const ended = await service.wait<{ node: string; attempt: number }>(run.id, { timeout: 60_000 });
    const starts = await sinkRows(h.schema, "key = 'stall' and phase = 'start'");
    expect(starts.map((s) => s.attempt)).toEqual([1, 2]);
    const [stalledId, otherId] = [starts[0]!.node_id, starts[1]!.node_id];
    expect(otherId).not.toBe(stalledId); // the stalled node could not claim anything meanwhile
    expect(ended).toMatchObject({ status: 'success', attempt: 2, output: { node: otherId, attempt: 2 } });

    // the stalled node wakes, its task answers done(attempt 1), and that write is refused
    const stalled = nodes.find((n) => n.nodeId === stalledId)!;
    await waitFor(async () => (await sinkRows(h.schema, "key = 'stall' and phase = 'stalled'")).length === 1, 60_000, 'the end of the stall');
    await waitFor(async () => (await stalled.call<Health>('health')).leaseLost >= 1, 60_000, 'LEASE_LOST on the stalled node');
    const stored = (await service.get(run.id)) as TaskRun<{ node: string; attempt: number }>;
    expect(stored).toMatchObject({ status: 'success', attempt: 2, output: { node: otherId, attempt: 2 } });

    // and it goes on working: it takes its share of new runs, which all complete
    const more = await Promise.all(Array.from({ length: 40 }, (_, i) => service.trigger({ definition: 'cluster.sink', input: { key: `after${i}`, ms: 20 } })));
    const done = await Promise.all(more.map((r) => service.wait(r.id, { timeout: 60_000 })));
    expect(done.every((r) => r.status === 'success')).toBe(true);
    expect(await stalled.call<Health>('health')).toMatchObject({ uncaught: 0, unhandled: 0 });
  }, 180_000); // node processes may take up to NODE_START_MS to start on a busy machine
});
