// A fixture of leak-guard.test.ts (not run by the suite): leaves a server and a connection to it open.
import { createConnection, createServer } from 'node:net';

test('opens a connection and forgets it', async () => {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const socket = createConnection(port, '127.0.0.1');
  await new Promise((resolve) => socket.once('connect', resolve));
});
