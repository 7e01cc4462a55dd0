import type { Client } from 'pg';
import { pgDriver } from '../shared/drivers';
import { LATEST_SCHEMA_VERSION, MIGRATIONS, migrate, quoteSchema, readSchemaVersion } from './postgres-migrations';
import { pgTypeParsers } from './pg-support';

export { PostgresStorage, postgresStorage } from './postgres-storage';
export type { PostgresStorageOptions } from './postgres-storage';
export { PostgresDistribution, postgresDistribution } from './postgres-distribution';
export type { PostgresDistributionOptions } from './postgres-distribution';
export { LATEST_SCHEMA_VERSION, MIGRATIONS, SCHEMA_NAME_PATTERN } from './postgres-migrations';

async function withClient<T>(connectionString: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new (pgDriver('pgAdmin').Client)({ connectionString, application_name: 'tasklane-admin', types: pgTypeParsers });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Operator helpers for a tasklane PostgreSQL schema (one short-lived connection each).
 * `migrate` is what every node does on start; running it ahead of a deploy is optional.
 */
export const pgAdmin = {
  /** applies the missing migrations; returns the versions applied */
  migrate(options: { connectionString: string; schema?: string }): Promise<number[]> {
    return withClient(options.connectionString, (c) => migrate(c, options.schema ?? 'tasklane'));
  },
  /** the schema's version (0 = not created) and the version this code expects */
  schemaVersion(options: { connectionString: string; schema?: string }): Promise<{ current: number; latest: number }> {
    return withClient(options.connectionString, async (c) => ({
      current: await readSchemaVersion(c, options.schema ?? 'tasklane'),
      latest: LATEST_SCHEMA_VERSION,
    }));
  },
  /** drops the schema and everything in it (irreversible) */
  dropSchema(options: { connectionString: string; schema: string }): Promise<void> {
    const s = quoteSchema(options.schema);
    return withClient(options.connectionString, async (c) => {
      await c.query(`drop schema if exists ${s} cascade`);
    });
  },
  /** the migrations this code knows, in order */
  migrations(): Array<{ version: number; name: string }> {
    return MIGRATIONS.map((m) => ({ version: m.version, name: m.name }));
  },
};
