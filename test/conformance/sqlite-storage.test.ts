import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sqliteStorage } from '../../src/adapters/sqlite/sqlite-storage';
import { describeStorageConformance } from './storage-conformance';

describeStorageConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tasklane-sqlite-conf-'));
  return {
    storage: sqliteStorage({ file: join(dir, 'tasks.db') }),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
