// A fixture of leak-guard.test.ts (not run by the suite): everything the other fixtures leave open,
// closed, some of it only by an afterAll hook declared after the guard was installed. Must pass.
import { spawn } from 'node:child_process';
import { createConnection, createServer, type Server } from 'node:net';
import { memoryStorage } from '../../../src';
import { startHarness, type Harness } from '../../helpers/engine-harness';
import { NoopTask } from '../../fixtures/tasks';

let server: Server;
let harness: Harness;
const interval = setInterval(() => undefined, 60_000);

beforeAll(async () => {
  server = createServer((s) => s.end());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  harness = await startHarness({ storage: memoryStorage(), tasks: [NoopTask] });
});

afterAll(async () => {
  clearInterval(interval);
  await harness.stop();
  await new Promise((resolve) => server.close(resolve));
});

test('uses a connection, a timer and a child, and closes them', async () => {
  const { port } = server.address() as { port: number };
  const socket = createConnection(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('close', resolve));
  await new Promise((resolve) => setTimeout(resolve, 10));
  clearTimeout(setTimeout(() => undefined, 60_000));
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
});
