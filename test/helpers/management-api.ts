/**
 * A management server over a real engine, for the API tests: one engine per storage namespace, a
 * server on a free port, and clients that speak GraphQL over HTTP (fetch) and its event streams
 * (graphql-sse, as the CLI does).
 */
import { createClient } from 'graphql-sse';
import type { TasklaneOptions } from '../../src';
import { serveManagement, tokenAuth, type ManagementServer, type ServeOptions } from '../../src/management';
import { MANAGEMENT_TASKS } from '../fixtures/management-tasks';
import type { StorageKind, Namespace } from '../reliability/storages';
import { startHarness, type Harness } from './engine-harness';

export const TOKENS = {
  viewer: 'viewer-token-0123456789',
  operator: 'operator-token-0123456789',
  admin: 'admin-token-0123456789',
  acmeViewer: 'acme-viewer-token-0123456789',
  acmeOperator: 'acme-operator-token-0123456789',
  expired: 'expired-token-0123456789',
} as const;
export type Who = keyof typeof TOKENS | 'none';

export const testAuth = () =>
  tokenAuth({
    tokens: [
      { token: TOKENS.viewer, role: 'viewer', name: 'viewer' },
      { token: TOKENS.operator, role: 'operator', name: 'operator' },
      { token: TOKENS.admin, role: 'admin', name: 'admin' },
      { token: TOKENS.acmeViewer, role: 'viewer', name: 'acme viewer', tenant: 'acme' },
      { token: TOKENS.acmeOperator, role: 'operator', name: 'acme operator', tenant: 'acme' },
      { token: TOKENS.expired, role: 'admin', name: 'expired', expiresAt: '2020-01-01T00:00:00Z' },
    ],
  });

export interface GqlAnswer<T = Record<string, unknown>> {
  status: number;
  data?: { backgroundTasks?: T } & Record<string, unknown>;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
  text: string;
}

export interface Api {
  harness: Harness;
  server: ManagementServer;
  url: string;
  gql<T = Record<string, unknown>>(query: string, variables?: Record<string, unknown>, who?: Who): Promise<GqlAnswer<T>>;
  /** raw HTTP to a path of the server */
  http(path: string, init?: RequestInit & { who?: Who }): Promise<Response>;
  /** a subscription's events until it completes (or `until` says stop) */
  subscribe(query: string, variables: Record<string, unknown>, who?: Who): Subscription;
  close(): Promise<void>;
}

export interface Subscription {
  events: Array<Record<string, unknown>>;
  errors: unknown[];
  /** resolves when the stream completed (or failed) */
  ended: Promise<void>;
  /** waits until `test` holds for the events received */
  until(test: (events: Array<Record<string, unknown>>) => boolean, timeoutMs?: number): Promise<void>;
  dispose(): void;
}

export function bearer(who: Who): Record<string, string> {
  return who === 'none' ? {} : { authorization: `Bearer ${TOKENS[who]}` };
}

export async function startApi(kind: StorageKind, options: Partial<ServeOptions> = {}, engine: TasklaneOptions = {}): Promise<Api & { ns: Namespace }> {
  const ns = await kind.fresh();
  const harness = await startHarness({ storage: ns.open(), tasks: MANAGEMENT_TASKS, pollMs: 100, ...engine });
  let server: ManagementServer;
  try {
    server = await serveManagement({ container: harness.container, auth: testAuth(), dashboard: false, ...options });
  } catch (err) {
    await harness.stop();
    await ns.cleanup();
    throw err;
  }
  return {
    ns,
    ...apiOn(server, harness),
    close: async () => {
      await server.close();
      await harness.stop();
      await ns.cleanup();
    },
  };
}

/** clients of a running server */
export function apiOn(server: ManagementServer, harness: Harness): Api {
  const url = server.url;
  const sseClients = new Set<{ dispose(): void }>();
  const api: Api = {
    harness,
    server,
    url,
    async http(path, init = {}) {
      const { who = 'admin', headers, ...rest } = init;
      return fetch(url + path, { ...rest, headers: { ...bearer(who), ...(headers as Record<string, string> | undefined) } });
    },
    async gql(query, variables, who = 'admin') {
      const res = await fetch(`${url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...bearer(who) },
        body: JSON.stringify({ query, variables }),
      });
      const text = await res.text();
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        // not JSON: the caller looks at text
      }
      return { status: res.status, text, ...(body as object) } as GqlAnswer<never>;
    },
    subscribe(query, variables, who = 'admin') {
      const client = createClient({ url: `${url}/graphql`, headers: bearer(who), retryAttempts: 0, singleConnection: false });
      sseClients.add(client);
      const events: Array<Record<string, unknown>> = [];
      const errors: unknown[] = [];
      const watchers: Array<() => void> = [];
      let endedResolve!: () => void;
      const ended = new Promise<void>((r) => (endedResolve = r));
      const dispose = client.subscribe(
        { query, variables },
        {
          next: (value) => {
            if (value.errors) errors.push(...value.errors);
            const event = (value.data as { backgroundTaskEvents?: Record<string, unknown> } | undefined)?.backgroundTaskEvents;
            if (event) events.push(event);
            for (const w of [...watchers]) w();
          },
          error: (err) => {
            errors.push(err);
            endedResolve();
            for (const w of [...watchers]) w();
          },
          complete: () => {
            endedResolve();
            for (const w of [...watchers]) w();
          },
        },
      );
      return {
        events,
        errors,
        ended,
        until(test, timeoutMs = 15_000) {
          return new Promise<void>((resolve, reject) => {
            const check = () => {
              if (test(events)) {
                watchers.splice(watchers.indexOf(check), 1);
                clearTimeout(timer);
                resolve();
              }
            };
            const timer = setTimeout(() => {
              watchers.splice(watchers.indexOf(check), 1);
              reject(
                new Error(
                  `subscription: condition not met within ${timeoutMs} ms; events: ${JSON.stringify(events.map((e) => e.type))}, errors: ${JSON.stringify(errors)}`,
                ),
              );
            }, timeoutMs);
            watchers.push(check);
            check();
          });
        },
        dispose: () => {
          dispose();
          client.dispose();
        },
      };
    },
    async close() {
      for (const c of sseClients) c.dispose();
      await server.close();
    },
  };
  return api;
}

/** the fields of TaskRunInfo the tests read */
export const RUN_FIELDS =
  'id definitionId name status input output error progress iterations attempt parentId key context createdOn startedOn finishedOn nodeId';
