/**
 * The three storages of the reliability scenarios, for tests that run in one process: each gives
 * a fresh namespace (memory instance, SQLite file, PostgreSQL schema) and `open()`, a new handle on
 * the same data, as another node would open it (memory: the same instance).
 */
import { join } from 'node:path';
import { memoryStorage, sqliteStorage, type RunStorage } from '../../src';
import { postgresStorage } from '../../src/adapters/postgres';
import { describeWithPostgres, freshPgSchema, PG_URL } from '../helpers/services';
import { tempDir } from '../helpers/temp-files';

export interface Namespace {
  open(): RunStorage;
  /** the PostgreSQL schema, for a postgresDistribution */
  schema?: string;
  cleanup(): Promise<void>;
}

export interface StorageKind {
  name: 'memory' | 'sqlite' | 'postgres';
  fresh(): Promise<Namespace>;
}

export const MEMORY: StorageKind = {
  name: 'memory',
  async fresh() {
    const storage = memoryStorage();
    return { open: () => storage, cleanup: async () => undefined };
  },
};

export const SQLITE: StorageKind = {
  name: 'sqlite',
  async fresh() {
    const tmp = tempDir();
    const file = join(tmp.dir, 'tasks.db');
    return { open: () => sqliteStorage({ file }), cleanup: async () => tmp.remove() };
  },
};

export const POSTGRES: StorageKind = {
  name: 'postgres',
  async fresh() {
    const { schema, drop } = await freshPgSchema();
    return { schema, open: () => postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 }), cleanup: drop };
  },
};

/** `describe` once per storage; the PostgreSQL block through describeWithPostgres */
export function describeEachStorage(title: string, fn: (kind: StorageKind) => void): void {
  for (const kind of [MEMORY, SQLITE]) describe(`${title} (${kind.name})`, () => fn(kind));
  describeWithPostgres(`${title} (postgres)`, () => fn(POSTGRES));
}
