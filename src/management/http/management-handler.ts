import type { IncomingMessage, ServerResponse } from 'node:http';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createYoga, type YogaServerInstance } from 'graphql-yoga';
import type { Container } from 'inversify';
import type { Logger } from 'winston';
import { InvalidArgumentError } from '../../api/errors';
import { EngineAccess } from '../../core/observation/engine-access';
import { TaskService } from '../../core/service/task-service';
import { TOKENS } from '../../ports/tokens';
import { mayAct, type AuthFunction, type Principal } from '../auth/principal';
import { EventHub } from '../events/event-hub';
import { internalError, toGraphQLError } from '../graphql/errors';
import type { ManagementContext } from '../graphql/context';
import { queryLimitPlugins, type QueryLimits } from '../graphql/query-limits';
import { buildSchema, DEFAULT_MAX_BUFFER } from '../graphql/schema';
import { EngineMetrics } from '../metrics/engine-metrics';
import { StaticFiles } from './static-files';

export interface ManagementOptions {
  container: Container;
  /** who calls (see AuthFunction, tokenAuth); required unless `insecureNoAuth` */
  auth?: AuthFunction;
  /** every caller is an admin, with one loud warning: for a local experiment only */
  insecureNoAuth?: boolean;
  /** prefix of every route (default ''): `${basePath}/graphql`, `/metrics`, `/healthz`, `/readyz`, `/` */
  basePath?: string;
  /** request bodies larger than this answer 413 (default 1 MiB) */
  maxBodyBytes?: number;
  /** CORS for these origins on /graphql; none by default */
  cors?: { origins: string[] };
  /** `/metrics` without a principal (`public: true`), or no /metrics at all (`false`) */
  metrics?: { public?: boolean } | false;
  /** the folder of the built dashboard (default: the package's `dashboard/dist`); false: no dashboard */
  dashboard?: string | false;
  /** depth, estimated fields and aliases of a query (defaults 10, 1,000, 100) */
  limits?: QueryLimits;
  /** events queued per subscriber before it is dropped (default 1000) */
  maxSubscriptionBuffer?: number;
}

/** A request handler for node:http, Express, Fastify's raw request, ...; `next` is called for paths outside `basePath`. */
export interface ManagementHandler {
  (req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): void;
  /** ends every live event stream and stops observing the engine (the handler answers 503 afterwards) */
  close(): Promise<void>;
  /** the Prometheus registry of this handler */
  readonly metrics: EngineMetrics | undefined;
  /** open event subscriptions */
  readonly subscriptions: number;
}

const DEFAULT_MAX_BODY = 1024 * 1024;
/** the package's own dashboard build (`<package>/dashboard/dist`), from the sources or from dist/ */
function defaultDashboard(): string {
  let dir = __dirname;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'dashboard', 'dist');
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
    ...headers,
  });
  res.end(text);
}

function graphqlErrorBody(code: string, message: string, extra: Record<string, unknown> = {}): unknown {
  return { errors: [{ message, extensions: { code, ...extra } }] };
}

/** a body refused before it was read: the connection is closed after the answer (its unread body would follow) */
function refuseBody(res: ServerResponse, status: number, code: string, message: string): void {
  res.shouldKeepAlive = false;
  json(res, status, graphqlErrorBody(code, message));
}

function normaliseBase(basePath: string | undefined): string {
  const base = (basePath ?? '').replace(/\/+$/, '');
  if (base !== '' && !/^\/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$/.test(base))
    throw new InvalidArgumentError('createManagementHandler(): basePath must start with "/" and hold URL path characters only');
  return base;
}

/**
 * The management API as a request handler (MANAGEMENT.md section 1): GraphQL over HTTP and its
 * live events (Server-Sent Events) on `/graphql` (graphql-yoga), `/metrics`, `/healthz`,
 * `/readyz` and the dashboard. Fail-closed: without `auth` (or an explicit `insecureNoAuth`) it
 * throws InvalidArgumentError; a caller without a principal gets 401 before anything is parsed.
 */
export function createManagementHandler(options: ManagementOptions): ManagementHandler {
  if (!options || typeof options !== 'object' || !options.container) throw new InvalidArgumentError('createManagementHandler(): `container` is required');
  const { container } = options;
  const logger = container.get<Logger>(TOKENS.Logger);
  let auth: AuthFunction;
  if (typeof options.auth === 'function') auth = options.auth;
  else if (options.insecureNoAuth === true) {
    logger.warn('tasklane management: !!! insecureNoAuth: EVERY caller is an admin (no authentication). Never expose this server. !!!');
    auth = () => ({ name: 'anonymous (insecureNoAuth)', role: 'admin' });
  } else {
    throw new InvalidArgumentError(
      'createManagementHandler(): `auth` is required (e.g. tokenAuth({ tokens })); pass insecureNoAuth: true only for a local experiment',
    );
  }
  const base = normaliseBase(options.basePath);
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  if (!Number.isInteger(maxBodyBytes) || maxBodyBytes < 1024)
    throw new InvalidArgumentError('createManagementHandler(): maxBodyBytes must be an integer of at least 1024');
  if (options.cors !== undefined && (!Array.isArray(options.cors?.origins) || options.cors.origins.some((o) => typeof o !== 'string'))) {
    throw new InvalidArgumentError('createManagementHandler(): cors must be { origins: string[] }');
  }

  const service = container.get(TaskService);
  const access = new EngineAccess(container);
  const hub = new EventHub(service, access, options.maxSubscriptionBuffer ?? DEFAULT_MAX_BUFFER);
  const deps = { service, access, hub, logger };
  const metrics = options.metrics === false ? undefined : new EngineMetrics(service, access);
  const metricsPublic = options.metrics !== false && options.metrics?.public === true;
  const dashboard = options.dashboard === false ? undefined : new StaticFiles(options.dashboard ?? defaultDashboard());
  const yoga: YogaServerInstance<{ req: IncomingMessage; res: ServerResponse; principal: Principal }, ManagementContext> = createYoga({
    schema: buildSchema(deps, (context) => (context as ManagementContext).principal),
    graphqlEndpoint: `${base}/graphql`,
    batching: false,
    graphiql: false,
    landingPage: false,
    multipart: false,
    maxRequestBodySize: false, // enforced before yoga (see graphql())
    cors: options.cors
      ? { origin: options.cors.origins, methods: ['GET', 'POST'], allowedHeaders: ['Authorization', 'Content-Type', 'Accept'], credentials: false }
      : false,
    maskedErrors: { maskError: (error) => toGraphQLError(error, logger), isDev: false },
    logging: {
      debug: () => undefined,
      info: () => undefined,
      warn: (...args: unknown[]) => logger.warn(`tasklane management (graphql): ${args.map(String).join(' ')}`),
      error: (...args: unknown[]) => logger.error(`tasklane management (graphql): ${args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ')}`),
    },
    plugins: queryLimitPlugins(options.limits),
  });

  let closed = false;

  async function principalOf(req: IncomingMessage, res: ServerResponse): Promise<Principal | undefined> {
    let principal: Principal | null;
    try {
      principal = await auth(req);
    } catch (err) {
      const e = internalError(err, logger);
      json(res, 500, { errors: [{ message: e.message, extensions: { code: 'INTERNAL', errorId: e.extensions.errorId } }] });
      return undefined;
    }
    if (!principal) {
      json(res, 401, graphqlErrorBody('UNAUTHENTICATED', 'Unauthenticated: send a valid token (Authorization: Bearer <token>).'), {
        'WWW-Authenticate': 'Bearer',
      });
      return undefined;
    }
    return principal;
  }

  async function graphql(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // preflights carry no credentials: answered by yoga's CORS (configured origins only)
    if (req.method === 'OPTIONS') return void (await yoga(req, res, { req, res } as never));
    const principal = await principalOf(req, res);
    if (!principal) return;
    if (req.method === 'POST') {
      // JSON only: no form or multipart bodies (which a browser would send cross-site without a preflight)
      const type = String(req.headers['content-type'] ?? '')
        .split(';')[0]
        .trim()
        .toLowerCase();
      if (type !== 'application/json' && type !== 'application/graphql-response+json') {
        json(res, 415, graphqlErrorBody('UNSUPPORTED_MEDIA_TYPE', 'POST /graphql takes Content-Type: application/json.'));
        return;
      }
      // The body limit, decided from the declared length: Node's parser never reads past it. A body
      // without one (chunked) is refused. (graphql-yoga's own limit re-streams every body through
      // a web TransformStream: half the API's throughput, measured with npm run bench.)
      const length = req.headers['content-length'];
      if (length === undefined) return refuseBody(res, 411, 'LENGTH_REQUIRED', 'POST /graphql needs a Content-Length header.');
      if (Number(length) > maxBodyBytes) return refuseBody(res, 413, 'REQUEST_ENTITY_TOO_LARGE', `Request body too large: at most ${maxBodyBytes} bytes.`);
    }
    await yoga(req, res, { req, res, principal });
  }

  async function handle(req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void): Promise<void> {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    const path = (req.url ?? '/').split('?')[0];
    if (base !== '' && path !== base && !path.startsWith(`${base}/`)) {
      if (next) return next();
      return json(res, 404, { error: 'Not Found' });
    }
    const route = path.slice(base.length) || '/';
    if (closed) return json(res, 503, { error: 'The management server is closing.' });
    switch (route) {
      case '/graphql':
        return graphql(req, res);
      case '/healthz':
        return json(res, 200, { status: 'ok' });
      case '/readyz': {
        const health = await access.health();
        if (health.error !== undefined)
          logger.warn('tasklane management: readiness: storage did not answer', {
            error: health.error instanceof Error ? health.error.message : String(health.error),
          });
        const ready = health.started && health.storage;
        return json(res, ready ? 200 : 503, {
          status: ready ? 'ready' : 'not ready',
          engine: health.started ? 'started' : 'not started',
          storage: health.storage ? 'ok' : 'unavailable',
        });
      }
      case '/metrics': {
        if (!metrics) return json(res, 404, { error: 'Not Found' });
        if (!metricsPublic) {
          const principal = await principalOf(req, res);
          if (!principal) return;
          if (!mayAct(principal, 'viewer')) return json(res, 403, graphqlErrorBody('FORBIDDEN', 'Forbidden.'));
        }
        const { contentType, body } = await metrics.render();
        res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
        res.end(body);
        return;
      }
      default:
        if (!dashboard) return json(res, 404, { error: 'Not Found' });
        return dashboard.serve(req, res, route);
    }
  }

  const handler = ((req: IncomingMessage, res: ServerResponse, next?: (err?: unknown) => void) => {
    handle(req, res, next).catch((err: unknown) => {
      const e = internalError(err, logger);
      if (!res.headersSent) json(res, 500, { errors: [{ message: e.message, extensions: { code: 'INTERNAL', errorId: e.extensions.errorId } }] });
      else res.destroy();
    });
  }) as ManagementHandler;
  Object.defineProperties(handler, {
    close: {
      value: async () => {
        if (closed) return;
        closed = true;
        hub.closeAll();
        metrics?.close();
        await yoga.dispose?.();
      },
    },
    metrics: { get: () => metrics },
    subscriptions: { get: () => hub.size },
  });
  return handler;
}
