// A fixture of leak-guard.test.ts (not run by the suite): leaves a child process running.
import { spawn } from 'node:child_process';

test('spawns a child and forgets it', async () => {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('spawn', resolve));
});
