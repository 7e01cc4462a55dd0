import { join } from 'node:path';
import { sqliteStorage } from '../../src';
import { tempDir } from '../helpers/temp-files';
import { describeEngineConformance } from './engine-conformance';

describeEngineConformance('sqlite', async () => {
  const tmp = tempDir();
  return { storage: sqliteStorage({ file: join(tmp.dir, 'tasks.db') }), cleanup: async () => tmp.remove() };
});
