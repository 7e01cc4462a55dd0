import 'reflect-metadata';
import { join, resolve } from 'node:path';
import { Container } from 'inversify';
import type { Logger } from 'winston';
import {
  loadPlugins,
  postgresDistribution,
  postgresStorage,
  registerTasks,
  sqliteStorage,
  tasklane,
  type PluginLoadReport,
  type TasklaneOptions,
} from '../src';
import { CsvRecordSink } from '../plugins/csv-import';
import { CrmClient } from './services/crm-client';
import { CsvUserSink } from './services/csv-user-sink';
import { HeartbeatMonitor } from './services/heartbeat-monitor';
import { Mailer } from './services/mailer';
import { UserRepository } from './services/user-repository';
import { SAMPLE_TASKS } from './tasks';

/** the repository's plugins: plugins/ from the sources, dist/plugins once compiled */
export const PLUGINS = resolve(__dirname, '..', 'plugins');

/** PostgreSQL when TASKLANE_SAMPLE_PG_URL names a database, else SQLite in `dataDir` */
export function sampleAdapters(dataDir: string): { options: TasklaneOptions; label: string } {
  const pgUrl = process.env.TASKLANE_SAMPLE_PG_URL;
  if (pgUrl) {
    return {
      options: { storage: postgresStorage({ connectionString: pgUrl }), distribution: postgresDistribution({ connectionString: pgUrl }) },
      label: 'PostgreSQL (TASKLANE_SAMPLE_PG_URL)',
    };
  }
  const file = join(dataDir, 'tasks.db');
  return { options: { storage: sqliteStorage({ file }) }, label: `SQLite ${file}` };
}

/**
 * The sample host's container: its own services, tasklane, its tasks, then the plugins. The
 * sample app (main.ts) and a bare worker node (node.ts) build the same one.
 */
export async function buildHostContainer(options: TasklaneOptions & { logger: Logger }): Promise<{ container: Container; plugins: PluginLoadReport }> {
  const container = new Container();
  container.bind(UserRepository).toSelf().inSingletonScope();
  container.bind(CrmClient).toSelf().inSingletonScope();
  container.bind(Mailer).toSelf().inSingletonScope();
  container.bind(HeartbeatMonitor).toSelf().inSingletonScope();
  await container.load(tasklane(options));
  registerTasks(container, SAMPLE_TASKS);
  // the csv-import plugin hands its records to whatever the host bound as its sink
  container.bind(CsvRecordSink).to(CsvUserSink).inSingletonScope();
  const plugins = await loadPlugins(container, PLUGINS);
  return { container, plugins };
}
