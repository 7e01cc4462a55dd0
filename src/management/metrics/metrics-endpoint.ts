import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Container } from 'inversify';
import { InvalidArgumentError } from '../../api/errors';
import { EngineAccess } from '../../core/observation/engine-access';
import { TaskService } from '../../core/service/task-service';
import type { AuthFunction } from '../auth/principal';
import { EngineMetrics } from './engine-metrics';

export interface MetricsEndpointOptions {
  container: Container;
  /** who may scrape; or `public: true` for an endpoint without authentication (an internal port) */
  auth?: AuthFunction;
  public?: boolean;
}

export interface MetricsHandler {
  (req: IncomingMessage, res: ServerResponse): void;
  readonly metrics: EngineMetrics;
  close(): void;
}

/**
 * `/metrics` alone, for nodes that serve no management API (worker nodes): the same metrics as the
 * management server's (MANAGEMENT.md section 6), in a registry of their own.
 */
export function createMetricsHandler(options: MetricsEndpointOptions): MetricsHandler {
  if (!options?.container) throw new InvalidArgumentError('createMetricsHandler(): `container` is required');
  if (typeof options.auth !== 'function' && options.public !== true)
    throw new InvalidArgumentError('createMetricsHandler(): give `auth`, or `public: true` for an unauthenticated endpoint');
  const metrics = new EngineMetrics(options.container.get(TaskService), new EngineAccess(options.container));
  const handler = ((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      if ((req.url ?? '/').split('?')[0] !== '/metrics') return void res.writeHead(404).end();
      if (options.auth && options.public !== true && !(await options.auth(req))) return void res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end();
      const { contentType, body } = await metrics.render();
      res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(body);
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  }) as MetricsHandler;
  Object.defineProperties(handler, { metrics: { value: metrics }, close: { value: () => metrics.close() } });
  return handler;
}

export interface MetricsServer {
  url: string;
  close(): Promise<void>;
}

/** Serves `/metrics` on its own port (default: a free one on 127.0.0.1). */
export async function serveMetrics(options: MetricsEndpointOptions & { port?: number; host?: string }): Promise<MetricsServer> {
  const handler = createMetricsHandler(options);
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  }).catch((err: unknown) => {
    handler.close();
    throw err;
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    url: `http://${address}:${port}/metrics`,
    close: async () => {
      handler.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
