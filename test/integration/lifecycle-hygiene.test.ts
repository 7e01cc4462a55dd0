import 'reflect-metadata';
import { join } from 'node:path';
import { memoryStorage, postgresDistribution, postgresStorage, sqliteStorage, type RunStorage } from '../../src';
import { trackResources } from '../helpers/resource-tracker';
import { describeWithPostgres, freshPgSchema, PG_URL } from '../helpers/services';
import { startHarness } from '../helpers/engine-harness';
import { tempDir } from '../helpers/temp-files';
import { NoopTask, SleepTask } from '../fixtures/tasks';

describe.each([
  ['memory', () => ({ storage: memoryStorage() as RunStorage, done: () => undefined })],
  [
    'sqlite',
    () => {
      const tmp = tempDir();
      return { storage: sqliteStorage({ file: join(tmp.dir, 'h.db') }) as RunStorage, done: () => tmp.remove() };
    },
  ],
])('start/stop hygiene on %s (R16)', (_name, make) => {
  test('100 start/stop cycles and concurrent calls leave no timer or handle behind', async () => {
    const { storage, done } = make();
    const tracked = trackResources();
    const h = await startHarness({ storage, tasks: [NoopTask, SleepTask], start: false });
    for (let i = 0; i < 100; i++) {
      await h.engine.start();
      if (i % 10 === 0) {
        const run = await h.service.trigger({ definition: NoopTask });
        await h.service.wait(run.id, { timeout: 5000 });
        // a delayed run arms the due timer, which stop() must clear
        await h.service.trigger({ definition: NoopTask, delay: 60_000 });
      }
      await h.engine.stop();
    }
    await Promise.all(Array.from({ length: 10 }, () => h.engine.start()));
    expect(h.engine.status).toBe('started');
    await Promise.all(Array.from({ length: 10 }, () => h.engine.stop()));
    expect(h.engine.status).toBe('stopped');
    await h.stop();
    await new Promise((r) => setImmediate(r));
    // tasklane's own timers and any new handle; a count of every timer would include jest's own
    expect({ timers: tracked.timers(), handles: tracked.newHandles() }).toEqual({ timers: [], handles: [] });
    tracked.stop();
    done();
  }, 60_000);
});

describeWithPostgres('start/stop hygiene on PostgreSQL (R16)', () => {
  test('start/stop cycles of a node with PostgreSQL storage and distribution: no timer, socket or handle left once stop() resolves', async () => {
    const { schema, drop } = await freshPgSchema();
    const storage = postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 });
    const distribution = postgresDistribution({ connectionString: PG_URL, schema, heartbeatMs: 100, pollMs: 100 });
    const tracked = trackResources();
    const h = await startHarness({ storage, distribution, tasks: [NoopTask, SleepTask], start: false });
    try {
      for (let i = 0; i < 5; i++) {
        await h.engine.start();
        const run = await h.service.trigger({ definition: NoopTask });
        await h.service.wait(run.id, { timeout: 10_000 });
        await h.service.trigger({ definition: NoopTask, delay: 60_000 }); // arms the due timers
        await h.engine.stop();
        // looked at once stop() resolved, without waiting: pg-pool's end() resolves while its
        // sockets are still closing, which left a socket open after stop() (see endPool)
        expect({ cycle: i, timers: tracked.timers(), handles: tracked.newHandles() }).toEqual({ cycle: i, timers: [], handles: [] });
      }
    } finally {
      tracked.stop();
      await h.stop();
      await drop();
    }
  }, 60_000);
});

describe('stop while a claim is under way', () => {
  test('the runs that claim brings back are given back unstarted (pending, attempt 0) and stop does not wait for them', async () => {
    const storage = memoryStorage();
    const claim = storage.claimRuns.bind(storage);
    let claimsStarted = 0;
    storage.claimRuns = async (request) => {
      claimsStarted++;
      const claimed = await claim(request);
      await new Promise((r) => setTimeout(r, 200)); // a slow store: the answer comes late
      return claimed;
    };
    const h = await startHarness({ storage, tasks: [NoopTask], start: false });
    const runs = await Promise.all([1, 2, 3].map(() => h.service.trigger({ definition: NoopTask })));
    await h.engine.start();
    while (claimsStarted === 0) await new Promise((r) => setTimeout(r, 5));
    await h.engine.stop({ graceful: true }); // default timeout 30 s: longer than this test may take
    for (const run of runs) {
      expect(await h.service.get(run.id)).toMatchObject({ status: 'pending', attempt: 0, iterations: 0 });
    }
    await h.stop();
  }, 10_000);
});
