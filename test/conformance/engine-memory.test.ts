import { memoryStorage } from '../../src';
import { describeEngineConformance } from './engine-conformance';

describeEngineConformance('memory', async () => ({ storage: memoryStorage(), cleanup: async () => undefined }));
