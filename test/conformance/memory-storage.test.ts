import { memoryStorage } from '../../src/adapters/memory/memory-storage';
import { describeStorageConformance } from './storage-conformance';

describeStorageConformance('memory', async () => ({ storage: memoryStorage(), cleanup: async () => undefined }));
