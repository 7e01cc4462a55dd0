/**
 * Live events on every node of a PostgreSQL cluster: a subscriber on one node (the test process,
 * which executes nothing) hears the started, progress and iteration events of runs executing in
 * other node processes, and their ends. Nodes publish event notices only while some live node is
 * interested: none while nobody listens, none again once the subscriber left.
 */
import { Client } from 'pg';
import { serveManagement } from '../../src/management';
import { describeWithPostgres, PG_URL } from '../helpers/services';
import { sleep, useCluster, waitFor } from '../helpers/pg-cluster';
import { apiOn, testAuth, type Subscription } from '../helpers/management-api';
import type { Harness } from '../helpers/engine-harness';

/**
 * Triggers probe runs until the subscription hears `type` for one of them (a busy machine may
 * take a few heartbeats to carry a new subscriber's interest to the nodes); returns that run.
 */
async function untilHeard(sub: Subscription, trigger: () => Promise<{ id: string }>, type: string): Promise<{ id: string }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const probe = await trigger();
    try {
      await sub.until((events) => events.some((e) => e.type === type && (e.run as { id: string }).id === probe.id), 3_000);
      return probe;
    } catch (err) {
      if (Date.now() > deadline) throw err;
    }
  }
}

describeWithPostgres('live events across a PostgreSQL cluster', () => {
  const h = useCluster();

  it('reach a subscriber on another node, and cost no notice while nobody listens', async () => {
    await h.cluster([{ nodeId: 'east-1' }, { nodeId: 'east-2' }]);
    const client = h.client!;
    // counts the event notices the nodes send
    const listener = new Client({ connectionString: PG_URL });
    await listener.connect();
    let notices = 0;
    listener.on('notification', (msg) => {
      if (msg.channel === `${h.schema}.events`) notices++;
    });
    await listener.query(`listen "${h.schema}.events"`);
    const server = await serveManagement({ container: client.container, auth: testAuth(), dashboard: false });
    const api = apiOn(server, { container: client.container, engine: client.engine, service: client.service } as unknown as Harness);
    try {
      // nobody listens: runs with progress send no event notice
      const quiet = await client.service.trigger({ definition: 'cluster.steps', input: { steps: 3 } });
      await client.service.wait(quiet.id, { timeout: 20_000 });
      await sleep(500);
      expect(notices).toBe(0);

      const sub = api.subscribe(
        `subscription { backgroundTaskEvents(definitionId: "cluster.steps") { type progress run { id status nodeId iterations progress } } }`,
        {},
        'viewer',
      );
      // the interest reaches the nodes (sent at once, and at each heartbeat): until then a remote
      // run's events may not be sent, so probes run until one is heard from its node
      await untilHeard(sub, () => client.service.trigger({ definition: 'cluster.steps', input: { steps: 1 } }), 'started');
      const run = await client.service.trigger({ definition: 'cluster.steps', input: { steps: 3, ms: 100 } });
      await sub.until((events) => events.some((e) => e.type === 'done' && (e.run as { id: string }).id === run.id), 20_000);
      const mine = sub.events.filter((e) => (e.run as { id: string }).id === run.id);
      const types = mine.map((e) => e.type);
      expect(types[0]).toBe('submitted');
      expect(types).toContain('started');
      expect(types).toContain('progress');
      expect(types.filter((t) => t === 'iteration').length).toBeGreaterThanOrEqual(1);
      expect(types[types.length - 1]).toBe('done');
      const started = mine.find((e) => e.type === 'started')!.run as { nodeId: string };
      expect(['east-1', 'east-2']).toContain(started.nodeId);
      expect(mine.find((e) => e.type === 'done')!.run).toMatchObject({ status: 'success', iterations: 3, progress: { current: 3, total: 3 } });
      expect(notices).toBeGreaterThan(0);

      // a retry on another node: its retrying event, with the error, reaches this node too
      const retries = api.subscribe(
        `subscription { backgroundTaskEvents(definitionId: "cluster.flaky") { type error run { id nodeId retries status } } }`,
        {},
        'viewer',
      );
      const flaky = await untilHeard(retries, () => client.service.trigger({ definition: 'cluster.flaky' }), 'retrying');
      await retries.until((events) => events.some((e) => e.type === 'done' && (e.run as { id: string }).id === flaky.id), 20_000);
      const retrying = retries.events.find((e) => e.type === 'retrying' && (e.run as { id: string }).id === flaky.id)!;
      expect(retrying).toMatchObject({ error: { message: 'first execution fails' }, run: { id: flaky.id } });
      expect(['east-1', 'east-2']).toContain((retrying.run as { nodeId: string }).nodeId);
      retries.dispose();

      sub.dispose();
      await waitFor(() => server.handler.subscriptions === 0, 5000, 'the subscriptions to end');
      // the withdrawal reaches the nodes (at once, and at each heartbeat): from then on, a run
      // with progress sends no notice; on a busy machine that may take a few heartbeats
      const quietFrom = Date.now();
      let silent = false;
      while (!silent && Date.now() - quietFrom < 60_000) {
        const before = notices;
        const after = await client.service.trigger({ definition: 'cluster.steps', input: { steps: 3 } });
        await client.service.wait(after.id, { timeout: 20_000 });
        await sleep(500);
        silent = notices === before;
      }
      expect(silent).toBe(true);
    } finally {
      await api.close();
      await listener.end();
    }
  }, 240_000);
});
