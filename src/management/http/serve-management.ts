import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidArgumentError } from '../../api/errors';
import { createManagementHandler, type ManagementHandler, type ManagementOptions } from './management-handler';

export interface ServeOptions extends ManagementOptions {
  /** 0 (the default) picks a free port */
  port?: number;
  /** default 127.0.0.1: the API is not exposed beyond this machine unless asked */
  host?: string;
}

export interface ManagementServer {
  /** e.g. http://127.0.0.1:4000 (basePath not included) */
  url: string;
  port: number;
  /** the handler (metrics registry, open subscriptions) */
  handler: ManagementHandler;
  /** ends the live event streams, stops listening and closes every connection */
  close(): Promise<void>;
}

/** Starts a node:http server with the management handler (see createManagementHandler). */
export async function serveManagement(options: ServeOptions): Promise<ManagementServer> {
  const port = options?.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new InvalidArgumentError('serveManagement(): port must be an integer 0..65535');
  const host = options.host ?? '127.0.0.1';
  const handler = createManagementHandler(options);
  const server: Server = createServer(handler);
  // a client that never finishes sending its request is cut off (streams of events are responses: not affected)
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await handler.close();
    throw err;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shownHost}:${address.port}`,
    port: address.port,
    handler,
    close: () =>
      (closing ??= (async () => {
        await handler.close();
        const done = new Promise<void>((resolve) => server.close(() => resolve()));
        // the event streams end with their last write; what stays open (idle keep-alive) is closed now
        setTimeout(() => server.closeAllConnections(), 200).unref();
        server.closeIdleConnections();
        await done;
      })()),
  };
}
