import { join } from 'node:path';
import { sqliteStorage } from '../../src';
import { tempDir } from '../helpers/temp-files';
import { describeEngineConformance } from './engine-conformance';

describeEngineConformance('sqlite', async () => {
  const tmp = tempDir();
  const file = join(tmp.dir, 'tasks.db');
  return { storage: sqliteStorage({ file }), another: () => sqliteStorage({ file }), cleanup: async () => tmp.remove() };
});
