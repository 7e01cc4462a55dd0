/**
 * RELIABILITY R12, ticks no node fired: a node that starts after a gap (every node was down)
 * finds the ticks between the latest one recorded and its own start. With `backfill`, the latest
 * of them runs once, flagged `backfilled: true`; the others (all of them without backfill) are
 * reported once for the cluster as missed: `missedTicks` in stats() and one warning. Never
 * silently dropped, never run twice. On memory and SQLite (several engines on one store).
 */
import 'reflect-metadata';
import { cronScheduler, memoryStorage, sqliteStorage, Task, type RunStorage, type TaskDefinition, type TaskRun, type TaskRunParams } from '../../src';
import { captureLogger } from '../helpers/capture-logger';
import { startHarness, type Harness } from '../helpers/engine-harness';
import { tempDir } from '../helpers/temp-files';

@Task({ id: 'catchup.hourly', title: 'Hourly, no backfill', schedule: { cron: '0 * * * *' } })
class HourlyTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('ran');
  }
}

@Task({ id: 'catchup.backfilled', title: 'Hourly, backfill 2 h', schedule: { cron: '0 * * * *', backfill: '2h' } })
class BackfilledTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('ran');
  }
}

@Task({ id: 'catchup.short', title: 'Hourly, backfill 1 s', schedule: { cron: '0 * * * *', backfill: 1000 } })
class ShortWindowTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('ran');
  }
}

const HOUR = 3_600_000;
const GRACE = 100;

/** the start of the current hour, and the same hours back */
function hourAgo(hours: number): string {
  return new Date(Math.floor(Date.now() / HOUR) * HOUR - hours * HOUR).toISOString();
}

async function runsOf(h: Harness, definition: string): Promise<TaskRun[]> {
  return (await h.service.listRuns({ definition, limit: 100 })).items;
}

async function missed(h: Harness, definition: string): Promise<number> {
  return (await h.service.stats()).find((s) => s.definitionId === definition)?.missedTicks ?? -1;
}

async function settle(h: Harness): Promise<void> {
  await new Promise((r) => setTimeout(r, GRACE + 400));
  for (const run of (await h.service.listRuns({ limit: 100 })).items) {
    if (run.status === 'pending' || run.status === 'running') await h.service.wait(run.id, { timeout: 5000 });
  }
}

describe.each([
  ['memory', async () => ({ storage: memoryStorage() as RunStorage, another: (s: RunStorage) => s, cleanup: () => undefined })],
  [
    'SQLite',
    async () => {
      const dir = tempDir('tasklane-catchup-');
      const file = `${dir.dir}/tasks.db`;
      return { storage: sqliteStorage({ file }) as RunStorage, another: () => sqliteStorage({ file }) as RunStorage, cleanup: () => dir.remove() };
    },
  ],
])('schedule catch-up after downtime (R12) on %s', (_name, make) => {
  let made: Awaited<ReturnType<typeof make>>;
  const started: Harness[] = [];
  const start = async (storage: RunStorage, logger?: ReturnType<typeof captureLogger>) => {
    const h = await startHarness({ storage, tasks: [HourlyTask, BackfilledTask, ShortWindowTask], catchUpGraceMs: GRACE, ...(logger ? { logger } : {}) });
    started.push(h);
    return h;
  };

  beforeEach(async () => {
    made = await make();
    await made.storage.init();
  });

  afterEach(async () => {
    for (const h of started.splice(0)) await h.stop();
    await made.storage.close();
    made.cleanup();
  });

  it('without backfill: the ticks of the gap are reported missed, counted once, and none runs', async () => {
    await made.storage.recordScheduleTick('catchup.hourly', hourAgo(5));
    const lines: string[] = [];
    const h = await start(made.storage, captureLogger(lines));
    await settle(h);
    expect(await missed(h, 'catchup.hourly')).toBe(5);
    expect(await runsOf(h, 'catchup.hourly')).toEqual([]);
    const warnings = lines.filter((l) => l.includes('catchup.hourly') && l.includes('missed'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(`missed 5 tick(s) from ${hourAgo(4)} to ${hourAgo(0)}`);
    expect(warnings[0]).toContain('no backfill');
    // recorded: a node starting later finds no gap
    expect(await made.storage.lastScheduleTick('catchup.hourly')).toBe(hourAgo(0));
    await h.stop();
    started.length = 0;
    const again = await start(made.another(made.storage));
    await settle(again);
    expect(await missed(again, 'catchup.hourly')).toBe(0);
  });

  it('with backfill: the latest tick of the gap runs once, flagged backfilled; the others are missed', async () => {
    await made.storage.recordScheduleTick('catchup.backfilled', hourAgo(5));
    const h = await start(made.storage);
    await settle(h);
    const runs = await runsOf(h, 'catchup.backfilled');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ status: 'success', output: 'ran', scheduledFor: hourAgo(0), backfilled: true });
    expect((await h.service.get(runs[0].id))?.backfilled).toBe(true);
    expect(await missed(h, 'catchup.backfilled')).toBe(4);
    const info = (await h.service.listDefinitions()).find((d) => d.id === 'catchup.backfilled');
    expect(info?.schedule).toEqual({ cron: '0 * * * *', backfillMs: 2 * HOUR });
  });

  it('a tick older than the backfill window is missed, not run', async () => {
    if (Date.now() % HOUR < 5000) await new Promise((r) => setTimeout(r, 5000)); // the hour's tick must be older than 1 s
    await made.storage.recordScheduleTick('catchup.short', hourAgo(2));
    const h = await start(made.storage);
    await settle(h);
    expect(await runsOf(h, 'catchup.short')).toEqual([]);
    expect(await missed(h, 'catchup.short')).toBe(2);
  });

  it('two nodes starting together after the gap: one backfilled run, the gap counted once', async () => {
    await made.storage.recordScheduleTick('catchup.backfilled', hourAgo(3));
    await made.storage.recordScheduleTick('catchup.hourly', hourAgo(3));
    const [a, b] = await Promise.all([start(made.storage), start(made.another(made.storage))]);
    await settle(a);
    await settle(b);
    const runs = await runsOf(a, 'catchup.backfilled');
    expect(runs).toHaveLength(1);
    expect(runs[0]).toMatchObject({ backfilled: true, scheduledFor: hourAgo(0), status: 'success' });
    expect((await missed(a, 'catchup.backfilled')) + (await missed(b, 'catchup.backfilled'))).toBe(2);
    expect((await missed(a, 'catchup.hourly')) + (await missed(b, 'catchup.hourly'))).toBe(3);
    expect(await runsOf(a, 'catchup.hourly')).toEqual([]);
  });

  it('nothing is missed when the latest tick was recorded (a node was up), or when none ever was', async () => {
    await made.storage.recordScheduleTick('catchup.backfilled', hourAgo(0));
    const h = await start(made.storage);
    await settle(h);
    for (const id of ['catchup.hourly', 'catchup.backfilled', 'catchup.short']) {
      expect(await missed(h, id)).toBe(0);
      expect(await runsOf(h, id)).toEqual([]);
    }
  });

  it('a stop during the grace period leaves the gap for the next node', async () => {
    await made.storage.recordScheduleTick('catchup.backfilled', hourAgo(2));
    const h = await startHarness({ storage: made.storage, tasks: [BackfilledTask], catchUpGraceMs: 5000 });
    await h.stop();
    const reader = made.another(made.storage);
    await reader.init();
    expect(await reader.lastScheduleTick('catchup.backfilled')).toBe(hourAgo(2));
    const next = await start(reader);
    await settle(next);
    expect(await runsOf(next, 'catchup.backfilled')).toEqual([expect.objectContaining({ backfilled: true, scheduledFor: hourAgo(0) })]);
    expect(await missed(next, 'catchup.backfilled')).toBe(1);
  });
});

@Task({ id: 'catchup.every-second', title: 'Every second, no backfill', schedule: { cron: '* * * * * *' } })
class EverySecondTask implements TaskDefinition<undefined, string> {
  run({ controller }: TaskRunParams<undefined, string>) {
    return controller.response.done('ran');
  }
}

describe('ticks a blocked event loop made too late', () => {
  it('are reported missed (counted, one warning each), never run twice, never dropped without a word', async () => {
    const lines: string[] = [];
    const h = await startHarness({
      storage: memoryStorage(),
      tasks: [EverySecondTask],
      scheduler: cronScheduler({ lateToleranceMs: 100 }),
      logger: captureLogger(lines),
    });
    try {
      // let one tick pass normally, then block the loop for ~2.5 s
      await new Promise((r) => setTimeout(r, 1200));
      const until = Date.now() + 2500;
      while (Date.now() < until) {
        // busy: the timers cannot fire
      }
      await new Promise((r) => setTimeout(r, 1500));
      const late = (await h.service.stats()).find((s) => s.definitionId === 'catchup.every-second')?.missedTicks ?? 0;
      expect(late).toBeGreaterThanOrEqual(1);
      expect(lines.filter((l) => l.includes('too late')).length).toBe(late);
      const runs = await runsOf(h, 'catchup.every-second');
      const ticks = runs.map((r) => r.scheduledFor);
      expect(new Set(ticks).size).toBe(ticks.length);
    } finally {
      await h.stop();
    }
  });
});
