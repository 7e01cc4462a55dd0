import type { Client } from 'pg';
import { pgDriver } from '../../shared/drivers';
import { closeSocket, destroySocket, pgTypeParsers, withTimeout } from '../pg-support';

/** Ends a client politely, destroying its socket when it does not close within a second. */
export async function closeClient(client: Client): Promise<void> {
  client.removeAllListeners('notification');
  client.removeAllListeners('end');
  client.removeAllListeners('error');
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        destroySocket(client);
        resolve();
      }, 1000);
    }),
  ]);
  if (timer) clearTimeout(timer);
  await closeSocket(client);
}

/** `fn` on a connection of its own, closed after it (calls made before start) */
export async function withShortLivedClient<T>(
  options: { connectionString: string; applicationName: string; timeoutMs: number },
  fn: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new (pgDriver('postgresDistribution()').Client)({
    connectionString: options.connectionString,
    application_name: options.applicationName,
    connectionTimeoutMillis: options.timeoutMs,
    types: pgTypeParsers,
  });
  client.on('error', () => undefined);
  try {
    await withTimeout(client.connect(), options.timeoutMs, () => destroySocket(client));
    return await fn(client);
  } finally {
    await closeClient(client);
  }
}
