/**
 * One node of the PostgreSQL bench, as its own process (forked by postgres-bench with IPC).
 * Config in TL_BENCH: { url, schema, nodeId }. Says { ready } once started; exits on 'stop'.
 */
import 'reflect-metadata';
import { Container } from 'inversify';
import { postgresDistribution, postgresStorage, registerTasks, tasklane, TaskEngine } from '../src';
import { BenchNoop, BenchPark } from './bench-tasks';

const config = JSON.parse(process.env.TL_BENCH ?? '{}') as { url: string; schema: string; nodeId: string };

async function main(): Promise<void> {
  const container = new Container();
  await container.load(
    tasklane({
      storage: postgresStorage({ connectionString: config.url, schema: config.schema, applicationName: 'tasklane-bench' }),
      distribution: postgresDistribution({ connectionString: config.url, schema: config.schema, applicationName: 'tasklane-bench' }),
      nodeId: config.nodeId,
    }),
  );
  registerTasks(container, [BenchNoop, BenchPark]);
  const engine = container.get(TaskEngine);
  await engine.start();
  process.send?.({ ready: config.nodeId });
  process.on('message', (msg) => {
    if (msg === 'stop') void engine.stop({ graceful: false }).then(() => process.exit(0));
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
