import { memoryStorage } from '../../src';
import { describeEngineConformance } from './engine-conformance';

describeEngineConformance('memory', async () => {
  const storage = memoryStorage();
  return { storage, another: () => storage, cleanup: async () => undefined };
});
