// A fixture of leak-guard.test.ts (not run by the suite): starts an engine and never stops it.
import { memoryStorage } from '../../../src';
import { startHarness } from '../../helpers/engine-harness';
import { NoopTask } from '../../fixtures/tasks';

test('starts an engine and forgets it', async () => {
  await startHarness({ storage: memoryStorage(), tasks: [NoopTask] });
});
