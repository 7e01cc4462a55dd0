/**
 * RELIABILITY R18, soak and leak budget (the CI size): 200,000 runs through one engine, each task
 * resolved from a child Inversify container whose service comes from the parent; the heap after a
 * full GC is sampled every 10 %. The heap may not grow by 32 MB or more from the 10 % sample to the
 * last one; listener counts on the process stay the same; no MaxListenersExceededWarning.
 * On memory, SQLite and PostgreSQL (storage and distribution).
 */
import 'reflect-metadata';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Container, inject, injectable } from 'inversify';
import { IsInt, Min } from 'class-validator';
import {
  memoryStorage,
  postgresDistribution,
  postgresStorage,
  registerTasks,
  sqliteStorage,
  Task,
  tasklane,
  TaskEngine,
  TaskService,
  type Distribution,
  type RunStorage,
  type TaskDefinition,
  type TaskRunParams,
} from '../../src';
import { describeWithPostgres, freshPgSchema, PG_URL } from '../helpers/services';
import { tempDir } from '../helpers/temp-files';

const TOTAL = 200_000;
const ROUND = 10_000;
const BUDGET_MB = 32;

/** the V8 collector, made reachable inside Jest's sandbox */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/** lives in the parent container: every task instance gets it injected */
@injectable()
class SoakLedger {
  done = 0;
}

class SoakInput {
  @IsInt() @Min(0) n!: number;
}

@Task({ id: 'soak.tiny', title: 'A tiny task with input, progress, a log line and an output', input: SoakInput })
class SoakTask implements TaskDefinition<SoakInput, { n: number }> {
  constructor(@inject(SoakLedger) private readonly ledger: SoakLedger) {}
  run({ input, controller }: TaskRunParams<SoakInput, { n: number }>) {
    controller.progress({ current: 1, total: 1 });
    if (input.n % 100 === 0) controller.log.info('a hundred more', { n: input.n });
    this.ledger.done++;
    return controller.response.done({ n: input.n });
  }
}

function processListenerCounts(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of process.eventNames()) out[String(name)] = process.listenerCount(name);
  return out;
}

async function soak(storage: RunStorage, distribution?: Distribution): Promise<void> {
  const gc = collector();
  const listenersBefore = processListenerCounts();
  const warnings: string[] = [];
  const onWarning = (w: Error) => void warnings.push(`${w.name}: ${w.message}`);
  process.on('warning', onWarning);

  const parent = new Container();
  parent.bind(SoakLedger).toSelf().inSingletonScope();
  const child = new Container({ parent });
  await child.load(tasklane({ storage, ...(distribution ? { distribution } : {}), nodeId: 'soak' }));
  registerTasks(child, [SoakTask]);
  const engine = child.get(TaskEngine);
  const service = child.get(TaskService);
  await engine.start();
  const ended = { n: 0 };
  const onDone = () => void ended.n++;
  service.on('done', onDone);

  const heapMb: number[] = [];
  try {
    for (let sent = 0; sent < TOTAL; sent += ROUND) {
      const runs = await Promise.all(Array.from({ length: ROUND }, (_, i) => service.trigger({ definition: SoakTask, input: { n: sent + i } })));
      const outcomes = await Promise.all(runs.map((r) => service.wait(r.id, { timeout: 60_000 })));
      expect(outcomes.every((r) => r.status === 'success')).toBe(true);
      // a sample at every 10 %
      if ((sent + ROUND) % (TOTAL / 10) === 0) {
        gc();
        gc();
        heapMb.push(process.memoryUsage().heapUsed / 2 ** 20);
      }
    }
    expect(parent.get(SoakLedger).done).toBe(TOTAL);
    expect(ended.n).toBe(TOTAL);
  } finally {
    service.off('done', onDone);
    await engine.stop({ graceful: true, timeout: 10_000 });
    process.off('warning', onWarning);
  }
  expect(heapMb).toHaveLength(10);
  const growth = heapMb[heapMb.length - 1] - heapMb[0];
  // printed for the record: the samples show whether the heap levels off
  console.log(
    `R18 soak on ${storage.constructor.name}: heap after GC at 10 % .. 100 %: ${heapMb.map((m) => m.toFixed(0)).join(', ')} MB (growth ${growth.toFixed(1)} MB)`,
  );
  expect(growth).toBeLessThan(BUDGET_MB);
  expect(processListenerCounts()).toEqual(listenersBefore);
  expect(warnings.filter((w) => w.startsWith('MaxListenersExceededWarning'))).toEqual([]);
}

describe('R18 soak: 200,000 runs, heap growth under 32 MB', () => {
  it('on memory storage (default retention: the newest 10,000 finished runs)', async () => {
    await soak(memoryStorage());
  }, 180_000);

  it('on SQLite', async () => {
    const dir = tempDir('tasklane-soak-');
    await soak(sqliteStorage({ file: `${dir.dir}/soak.db` }));
    dir.remove();
  }, 300_000);
});

describeWithPostgres('R18 soak on PostgreSQL', () => {
  it('on PostgreSQL storage and distribution', async () => {
    const { schema, drop } = await freshPgSchema();
    try {
      await soak(postgresStorage({ connectionString: PG_URL, schema }), postgresDistribution({ connectionString: PG_URL, schema }));
    } finally {
      await drop();
    }
  }, 300_000);
});
