/**
 * RELIABILITY R13, clock skew: nodes whose clocks are 90 s ahead or behind PostgreSQL's. Each node
 * measures the server's clock at every heartbeat and keeps its time (due times, leases, schedule
 * ticks) in the server's, so a skewed node neither starts a delayed run early nor sees a live
 * node's lease as expired; one CLOCK_SKEW warning per node. The skew is the engine's injected
 * clock (TOKENS.Clock), which is what tasklane reads the time from.
 */
import 'reflect-metadata';
import { IsInt, Min } from 'class-validator';
import { postgresDistribution, postgresStorage, Task, type TaskDefinition, type TaskRunParams } from '../../src';
import { captureLogger } from '../helpers/capture-logger';
import { startHarness, type Harness } from '../helpers/engine-harness';
import { describeWithPostgres, freshPgSchema, PG_URL } from '../helpers/services';

/** when each run really started (the machine's clock, which the test does not skew) */
const startedReally = new Map<string, number>();

@Task({ id: 'skew.noop', title: 'No-op' })
class SkewNoop implements TaskDefinition<undefined, string> {
  run({ run, controller }: TaskRunParams<undefined, string>) {
    startedReally.set(run.id, Date.now());
    return controller.response.done('ok');
  }
}

class SleepInput {
  @IsInt() @Min(0) ms!: number;
}

@Task({ id: 'skew.sleep', title: 'Sleeps', input: SleepInput })
class SkewSleep implements TaskDefinition<SleepInput, string> {
  async run({ input, controller }: TaskRunParams<SleepInput, string>) {
    await controller.sleep(input.ms);
    return controller.response.done('slept');
  }
}

describeWithPostgres('clock skew across nodes (R13)', () => {
  let schema: string;
  let drop: () => Promise<void>;
  const nodes: Harness[] = [];

  beforeEach(async () => {
    ({ schema, drop } = await freshPgSchema());
  });

  afterEach(async () => {
    for (const h of nodes.splice(0)) await h.stop();
    await drop();
  });

  async function node(
    nodeId: string,
    skewMs: number | (() => number),
    extra: { accept?: { include?: string[] }; lines?: string[]; start?: boolean } = {},
  ): Promise<Harness> {
    const h = await startHarness({
      storage: postgresStorage({ connectionString: PG_URL, schema, poolSize: 3 }),
      distribution: postgresDistribution({ connectionString: PG_URL, schema, heartbeatMs: 300 }),
      tasks: [SkewNoop, SkewSleep],
      nodeId,
      pollMs: 100,
      clock: { now: typeof skewMs === 'function' ? () => Date.now() + skewMs() : () => Date.now() + skewMs },
      ...(extra.accept ? { accept: extra.accept } : {}),
      ...(extra.lines ? { logger: captureLogger(extra.lines) } : {}),
      ...(extra.start === false ? { start: false } : {}),
    });
    nodes.push(h);
    return h;
  }

  it('a node 90 s ahead warns once, and its runs carry the server time', async () => {
    const lines: string[] = [];
    const ahead = await node('ahead', 90_000, { lines });
    const run = await ahead.service.trigger({ definition: SkewNoop });
    const done = await ahead.service.wait(run.id, { timeout: 5000 });
    for (const stamp of [done.createdOn, done.startedOn!, done.finishedOn!]) expect(Math.abs(Date.parse(stamp) - Date.now())).toBeLessThan(5000);
    await new Promise((r) => setTimeout(r, 1000)); // several heartbeats: still one warning
    const warnings = lines.filter((l) => l.includes('CLOCK_SKEW'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('ahead of');
  });

  it('a node 90 s ahead does not start a delayed run before its due time in server time', async () => {
    const trigger = await node('trigger', 0, { accept: { include: [] } });
    const ahead = await node('ahead', 90_000, { accept: { include: ['skew.*'] } });
    const triggeredAt = Date.now();
    const run = await trigger.service.trigger({ definition: SkewNoop, delay: 1500 });
    const done = await trigger.service.wait(run.id, { timeout: 10_000 });
    expect(done.nodeId).toBe('ahead');
    // R13: no run starts more than 1 s before its due time in storage time (the server's clock is
    // this machine's)
    expect(startedReally.get(run.id)).toBeGreaterThanOrEqual(triggeredAt + 1500 - 1000);
    // startedOn is in store time, not the skewed node's (90 s off): what a busy machine puts
    // between a claim and the task's first line stays far below that
    expect(Math.abs(Date.parse(done.startedOn!) - startedReally.get(run.id)!)).toBeLessThan(3000);
    expect(ahead.engine.status).toBe('started');
  });

  it('a node 90 s ahead does not take a run whose lease a node 90 s behind holds', async () => {
    const behind = await node('behind', -90_000, { accept: { include: ['skew.*'] } });
    const run = await behind.service.trigger({ definition: SkewSleep, input: { ms: 2500 } });
    for (let i = 0; i < 100 && (await behind.service.get(run.id))?.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 20));
    // the node ahead polls for expired leases every 100 ms while the run sleeps
    await node('ahead', 90_000, { accept: { include: ['skew.*'] } });
    const done = await behind.service.wait(run.id, { timeout: 10_000 });
    expect(done).toMatchObject({ status: 'success', attempt: 1, nodeId: 'behind' });
  });

  it('a node whose clock is set back an hour, then forward, mid-run, keeps its lease and starts nothing early', async () => {
    let skew = 0;
    const lines: string[] = [];
    const jumpy = await node('jumpy', () => skew, { accept: { include: ['skew.*'] }, lines });
    const other = await node('other', 0, { accept: { include: [] } });
    const long = await jumpy.service.trigger({ definition: SkewSleep, input: { ms: 3000 } });
    for (let i = 0; i < 100 && (await jumpy.service.get(long.id))?.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 20));
    skew = -3_600_000; // set back an hour
    await new Promise((r) => setTimeout(r, 800));
    skew = 3_600_000; // then forward
    const triggeredAt = Date.now();
    const delayed = await other.service.trigger({ definition: SkewNoop, delay: 1500 });
    // a node that still takes no run: its polls would take an expired lease
    await node('poller', 0, { accept: { include: ['skew.*'] } });
    const [longDone, delayedDone] = await Promise.all([other.service.wait(long.id, { timeout: 10_000 }), other.service.wait(delayed.id, { timeout: 10_000 })]);
    expect(longDone).toMatchObject({ status: 'success', attempt: 1, nodeId: 'jumpy' });
    expect(delayedDone).toMatchObject({ status: 'success', nodeId: 'jumpy' });
    expect(startedReally.get(delayed.id)).toBeGreaterThanOrEqual(triggeredAt + 1500 - 1000);
    expect(lines.filter((l) => l.includes('CLOCK_SKEW'))).toHaveLength(1);
  });
});
