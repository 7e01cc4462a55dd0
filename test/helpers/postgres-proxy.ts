import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that can turn the links it carries into half-open ones:
 * `blackhole()` makes every connection open at that moment silently drop what it receives (the
 * sockets stay open, like a dead NAT entry or a pulled cable); connections made later pass.
 */
export interface PgProxy {
  url: string;
  port: number;
  connections(): number;
  blackhole(): number;
  close(): Promise<void>;
}

export async function startPgProxy(targetUrl: string): Promise<PgProxy> {
  const target = new URL(targetUrl);
  const targetHost = target.hostname || '127.0.0.1';
  const targetPort = target.port ? Number(target.port) : 5432;
  const pairs = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();
  const server: Server = createServer((client) => {
    const upstream = connect({ host: targetHost, port: targetPort });
    const pair = { client, upstream, dead: false };
    pairs.add(pair);
    client.on('data', (d) => {
      if (!pair.dead) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (!pair.dead) client.write(d);
    });
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', () => {
      // a blackholed link does not tell the other side either
      if (!pair.dead) close();
      else {
        pairs.delete(pair);
        upstream.destroy();
      }
    });
    upstream.on('close', () => {
      if (!pair.dead) close();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const url = new URL(targetUrl);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return {
    url: url.toString(),
    port,
    connections: () => pairs.size,
    blackhole() {
      let n = 0;
      for (const p of pairs) {
        if (!p.dead) {
          p.dead = true;
          n++;
        }
      }
      return n;
    },
    async close() {
      for (const p of pairs) {
        p.client.destroy();
        p.upstream.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
