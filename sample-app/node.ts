/**
 * A worker node of the sample host: the same container as the sample app (its services, its tasks,
 * the plugins), an engine that executes runs, and nothing else. On PostgreSQL, start several by
 * hand and they share the work of the sample app (or of each other):
 *
 *   export TASKLANE_SAMPLE_PG_URL=postgres://postgres@127.0.0.1:5432/test
 *   node dist/sample-app/node.js      # in two or three terminals
 *   npm start                         # triggers the sample's runs; the nodes pick them up
 *
 * Ctrl-C (SIGINT) or SIGTERM stops it gracefully: running iterations finish (up to 10 s), the
 * others are released to the remaining nodes.
 */
import 'reflect-metadata';
import { mkdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { createLogger, format, transports } from 'winston';
import { TaskEngine, TaskService } from '../src';
import { buildHostContainer, sampleAdapters } from './host-container';

async function main(): Promise<void> {
  const data = resolve('data');
  mkdirSync(data, { recursive: true });
  const nodeId = process.env.TASKLANE_NODE_ID ?? `sample-${hostname()}-${process.pid}`;
  const logger = createLogger({
    level: process.env.TASKLANE_LOG_LEVEL ?? 'info',
    format: format.combine(format.timestamp(), format.simple()),
    transports: [new transports.Console()],
  });
  const adapters = sampleAdapters(data);
  if (!process.env.TASKLANE_SAMPLE_PG_URL) {
    logger.warn('TASKLANE_SAMPLE_PG_URL is not set: this node shares the SQLite file with processes on this machine only');
  }
  const { container, plugins } = await buildHostContainer({ ...adapters.options, logger, nodeId, concurrency: 8 });
  const engine = container.get(TaskEngine);
  const service = container.get(TaskService);
  service.on('started', ({ run }) => void logger.info(`started ${run.definitionId} ${run.id}`));
  // 'done' is announced on every node of the cluster: log only the runs this node executed
  service.on('done', ({ run }) => {
    if (run.nodeId === nodeId) logger.info(`done    ${run.definitionId} ${run.id}`);
  });
  await engine.start();
  logger.info(`node ${nodeId} started on ${adapters.label}; plugins: ${plugins.loaded.map((p) => p.name).join(', ')}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) process.exit(1); // a second signal forces the exit
    stopping = true;
    logger.info(`${signal}: stopping gracefully`);
    void engine.stop({ graceful: true, timeout: 10_000 }).then(() => process.exit(0));
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((err: unknown) => {
  process.stderr.write(`sample node failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
