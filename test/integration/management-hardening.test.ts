/**
 * Bad input over HTTP (issue 9): each a clear error, nothing stored, the server keeps answering.
 * Also: no CORS by default, no stack or driver message in any answer, slow subscribers dropped.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tempDir } from '../helpers/temp-files';
import { EventBus } from '../../src/core/observation/event-bus';
import type { RunStorage } from '../../src/ports/storage';
import { TOKENS as PORT_TOKENS } from '../../src/ports/tokens';
import { EngineAccess } from '../../src/core/observation/engine-access';
import { MEMORY, SQLITE } from '../reliability/storages';
import { bearer, startApi, testAuth, TOKENS, type Api } from '../helpers/management-api';
import { createMetricsHandler, serveMetrics } from '../../src/management';
import { memoryStorage } from '../../src';
import { MANAGEMENT_TASKS } from '../fixtures/management-tasks';
import { startHarness } from '../helpers/engine-harness';
import { captureLogger } from '../helpers/capture-logger';

async function stored(api: Api): Promise<number> {
  return (await api.harness.service.listRuns({ limit: 1000 })).items.length;
}

async function stillAnswers(api: Api): Promise<void> {
  const me = await api.gql<{ me: { role: string } }>(`{ backgroundTasks { me { role } } }`, {}, 'viewer');
  expect(me.data!.backgroundTasks!.me.role).toBe('viewer');
}

const RUN_COUNT = `{ backgroundTasks { listTasks(where: { definitionId: "mgmt.echo" }, limit: 100) { items { id } } } }`;
const TRIGGER = `mutation($input: JSON) { backgroundTasks { triggerTask(definition: "mgmt.echo", input: $input) { id } } }`;

describe('management API: bad input over HTTP', () => {
  let api: Awaited<ReturnType<typeof startApi>>;

  beforeAll(async () => {
    api = await startApi(MEMORY, { maxSubscriptionBuffer: 50 });
  });

  afterAll(async () => {
    await api.close();
  });

  afterEach(async () => {
    expect(await stored(api)).toBe(0);
    await stillAnswers(api);
  });

  it('a body over 1 MiB: 413', async () => {
    const res = await api.http('/graphql', {
      who: 'operator',
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: TRIGGER, variables: { input: { count: 1, pad: 'x'.repeat(1024 * 1024) } } }),
    });
    expect(res.status).toBe(413);
    expect(await res.text()).toContain('REQUEST_ENTITY_TOO_LARGE');
  });

  it('a body without Content-Length (chunked): 411, unread', async () => {
    const chunks = (async function* () {
      yield Buffer.from(`{"query":${JSON.stringify(TRIGGER)},"variables":{"input":{"count":1,"pad":"`);
      for (let i = 0; i < 20; i++) yield Buffer.alloc(64 * 1024, 'x');
      yield Buffer.from('"}}}');
    })();
    const res = await fetch(`${api.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...bearer('operator') },
      body: chunks as never,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(411);
    expect(await res.text()).toContain('LENGTH_REQUIRED');
  });

  it('an input of 100,000 keys: INPUT_TOO_COMPLEX (over maxInputKeys), refused before validation; nothing stored', async () => {
    const input: Record<string, number> = { count: 1 };
    for (let i = 0; i < 100_000; i++) input[i.toString(36)] = 0;
    const before = (await api.gql(RUN_COUNT, {}, 'viewer')).data;
    expect(before).toMatchObject({ backgroundTasks: { listTasks: { items: expect.any(Array) } } });
    const answer = await api.gql(TRIGGER, { input }, 'operator');
    expect(answer.errors?.[0].extensions?.code).toBe('INPUT_TOO_COMPLEX');
    expect(answer.errors?.[0].message).toMatch(/10,?000/);
    expect(answer.text.length).toBeLessThan(10_000);
    expect((await api.gql(RUN_COUNT, {}, 'viewer')).data).toEqual(before);
  }, 180_000);

  it('an input of 5,000 unknown keys (under maxInputKeys): INPUT_INVALID, with a bounded list of the properties', async () => {
    const input: Record<string, number> = { count: 1 };
    for (let i = 0; i < 5_000; i++) input[`k${i.toString(36)}`] = 0;
    const answer = await api.gql(TRIGGER, { input }, 'operator');
    expect(answer.errors?.[0].extensions?.code).toBe('INPUT_INVALID');
    const listed = answer.errors?.[0].extensions?.errors as Array<{ path: string }>;
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.length).toBeLessThanOrEqual(100);
    expect(answer.text.length).toBeLessThan(100_000);
  }, 180_000);

  it('a query nested 50 deep: refused before execution', async () => {
    let selection = 'id';
    for (let i = 0; i < 24; i++) selection = `children { items { ${selection} } }`;
    const answer = await api.gql(`{ backgroundTasks { getTask(id: "01hzzzzzzzzzzzzzzzzzzzzzzz") { ${selection} } } }`, {}, 'viewer');
    // not executed: no data at all (a 400 for clients that accept application/graphql-response+json)
    expect(answer.data).toBeUndefined();
    expect(answer.errors?.[0].extensions?.code).toBe('QUERY_TOO_COMPLEX');
    expect(answer.errors?.[0].message).toMatch(/depth/i);
    const strict = await api.http('/graphql', {
      who: 'viewer',
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json' },
      body: JSON.stringify({ query: `{ backgroundTasks { getTask(id: "x") { ${selection} } } }` }),
    });
    expect(strict.status).toBe(400);
  });

  it('1,000 aliases of one field: refused before execution', async () => {
    const aliases = Array.from({ length: 1000 }, (_, i) => `a${i}: stats { definitionId }`).join(' ');
    const answer = await api.gql(`{ backgroundTasks { ${aliases} } }`, {}, 'viewer');
    expect(answer.data).toBeUndefined();
    expect(answer.errors?.length).toBeGreaterThan(0);
    expect(answer.errors?.every((e) => e.extensions?.code === 'QUERY_TOO_COMPLEX')).toBe(true);
    // fields alone (no alias) past the estimate: refused too
    const fragments = `fragment F on TaskStatsRow { definitionId status queueSize queuePeak evalNum errNum evalTotalTime evalAvgTime missedTicks lastError }`;
    const spread = Array.from({ length: 95 }, (_, i) => `s${i}: stats { ...F }`).join(' ');
    const big = await api.gql(`{ backgroundTasks { ${spread} } } ${fragments}`, {}, 'viewer');
    expect(big.errors?.map((e) => e.message).join(' ')).toMatch(/more than 1000 fields/);
  });

  it('malformed JSON: 400; a wrong content type: 415; a batch: refused', async () => {
    const post = (body: string, type = 'application/json') =>
      api.http('/graphql', { who: 'operator', method: 'POST', headers: { 'content-type': type }, body });
    const malformed = await post('{"query": "{ backgroundTasks { me { role } } }"');
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toMatch(/JSON/);
    const text = await post('query { backgroundTasks { me { role } } }', 'text/plain');
    expect(text.status).toBe(415);
    expect(await text.json()).toEqual({ errors: [{ message: expect.stringMatching(/application\/json/), extensions: { code: 'UNSUPPORTED_MEDIA_TYPE' } }] });
    expect((await post(`query=${encodeURIComponent(TRIGGER)}`, 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await post('--x\r\n', 'multipart/form-data; boundary=x')).status).toBe(415);
    const batch = await post(JSON.stringify([{ query: '{ backgroundTasks { me { role } } }' }, { query: TRIGGER }]));
    expect(batch.status).toBeGreaterThanOrEqual(400);
    expect(batch.status).toBeLessThan(500);
    const mutationByGet = await api.http(
      `/graphql?query=${encodeURIComponent('mutation { backgroundTasks { triggerTask(definition: "mgmt.echo", input: { count: 1 }) { id } } }')}`,
      { who: 'operator' },
    );
    expect(mutationByGet.status).toBe(405);
  });

  it('no CORS headers by default', async () => {
    const preflight = await api.http('/graphql', {
      who: 'none',
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,content-type' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
    const get = await api.http('/graphql?query=%7B__typename%7D', { who: 'viewer', headers: { origin: 'https://evil.example' } });
    expect(get.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('a subscription opened and dropped 1,000 times leaves nothing behind', async () => {
    const body = JSON.stringify({ query: 'subscription { backgroundTaskEvents(definitionId: "mgmt.echo") { type } }' });
    const once = async () => {
      const ac = new AbortController();
      const res = await fetch(`${api.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...bearer('viewer') },
        body,
        signal: ac.signal,
      });
      expect(res.status).toBe(200);
      ac.abort();
    };
    for (let i = 0; i < 1000; i += 20) await Promise.all(Array.from({ length: 20 }, once));
    const bus = api.harness.container.get(EventBus);
    const deadline = Date.now() + 10_000;
    while (api.server.handler.subscriptions > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(api.server.handler.subscriptions).toBe(0);
    expect(bus.has('submitted') || bus.has('progress') || bus.has('done')).toBe(false);
    expect(new EngineAccess(api.harness.container).relayState.watching).toBe(0);
  }, 60_000);

  it('a subscriber that does not read is dropped once its buffer is full; the engine goes on', async () => {
    const socket = connect(api.server.port, '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', () => r()));
    socket.pause(); // never reads
    const body = JSON.stringify({ query: 'subscription { backgroundTaskEvents(definitionId: "mgmt.echo") { type run { id input output context } } }' });
    socket.write(
      `POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${TOKENS.viewer}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    const deadline = Date.now() + 10_000;
    while (api.server.handler.subscriptions === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(api.server.handler.subscriptions).toBe(1);
    const runs = [];
    for (let i = 0; i < 4000; i++) runs.push(api.harness.service.trigger({ definition: 'mgmt.echo', input: { count: 1 }, name: 'x'.repeat(100) }));
    const ids = (await Promise.all(runs)).map((r) => r.id);
    await Promise.all(ids.map((id) => api.harness.service.wait(id, { timeout: 30_000 })));
    while (api.server.handler.subscriptions > 0 && Date.now() < deadline + 20_000) await new Promise((r) => setTimeout(r, 50));
    expect(api.server.handler.subscriptions).toBe(0);
    // and its connection was closed by the server
    const closed = await new Promise<boolean>((resolve) => {
      if (socket.destroyed || socket.readableEnded) return resolve(true);
      const giveUp = setTimeout(() => resolve(false), 10_000);
      socket.resume();
      socket.once('close', () => {
        clearTimeout(giveUp);
        resolve(true);
      });
    });
    expect(closed).toBe(true);
    socket.destroy();
    // this test stores runs: they are removed for the checks after each test
    await api.harness.container.get<RunStorage>(PORT_TOKENS.Storage).deleteFinishedBefore(new Date(Date.now() + 60_000).toISOString(), 100_000);
  }, 90_000);
});

describe('management API: internal errors', () => {
  it('a storage failure answers INTERNAL with an errorId, no stack, SQL or driver message; the log has both', async () => {
    const lines: string[] = [];
    const api = await startApi(SQLITE, {}, { logger: captureLogger(lines, 'error') });
    try {
      const run = await api.harness.service.trigger({ definition: 'mgmt.echo', input: { count: 1 } });
      await api.harness.service.wait(run.id, { timeout: 10_000 });
      // the database goes away under the running engine
      await api.harness.container.get<RunStorage>(PORT_TOKENS.Storage).close();
      const answer = await api.gql(`query($id: ID!) { backgroundTasks { getTask(id: $id) { id } } }`, { id: run.id }, 'viewer');
      expect(answer.status).toBe(500);
      const err = answer.errors![0];
      expect(err.extensions?.code).toBe('INTERNAL');
      const errorId = err.extensions?.errorId as string;
      expect(errorId).toMatch(/^[0-9a-f-]{36}$/);
      expect(answer.text).not.toMatch(/sqlite|database|\bat \w|\.ts:|stack/i);
      const logged = lines.find((l) => l.includes(errorId));
      expect(logged).toBeDefined();
      expect(logged).toMatch(/database|sqlite|closed|open/i);
    } finally {
      await api.close().catch(() => undefined);
    }
  });
});

describe('management API: the dashboard files', () => {
  it('serves the built folder without a principal: index.html for the page routes, hashed assets cached, nothing outside', async () => {
    const tmp = tempDir();
    mkdirSync(`${tmp.dir}/assets`);
    writeFileSync(`${tmp.dir}/index.html`, '<!doctype html><title>tasklane</title>');
    writeFileSync(`${tmp.dir}/assets/app-3f9a1c2b7d.js`, 'console.log(1)');
    const api = await startApi(MEMORY, { dashboard: tmp.dir, basePath: '/ops' });
    try {
      const page = await api.http('/ops/', { who: 'none' });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('cache-control')).toBe('no-cache');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(await page.text()).toContain('<title>tasklane</title>');
      expect(await (await api.http('/ops/runs/01hzzzzzzzzzzzzzzzzzzzzzzz', { who: 'none' })).text()).toContain('<title>tasklane</title>');
      const asset = await api.http('/ops/assets/app-3f9a1c2b7d.js', { who: 'none' });
      expect(asset.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect((await api.http('/ops/assets/missing.js', { who: 'none' })).status).toBe(404);
      expect((await api.http('/ops/..%2f..%2fpackage.json', { who: 'none' })).status).toBe(404);
      expect((await api.http('/ops/%2e%2e/%2e%2e/etc/passwd', { who: 'none' })).status).toBe(404);
      // the API routes live under the base path too; outside it, nothing
      expect((await api.http('/ops/graphql?query=%7B__typename%7D', { who: 'viewer' })).status).toBe(200);
      expect((await api.http('/graphql', { who: 'viewer' })).status).toBe(404);
    } finally {
      await api.close();
      tmp.remove();
    }
  });
});

describe('management API: options', () => {
  it('metrics: { public: true } serves /metrics without a principal; metrics: false serves none', async () => {
    const open = await startApi(MEMORY, { metrics: { public: true } });
    try {
      const res = await open.http('/metrics', { who: 'none' });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^tasklane_nodes_live 1$/m);
      expect((await open.http('/graphql?query=%7B__typename%7D', { who: 'none' })).status).toBe(401);
    } finally {
      await open.close();
    }
    const none = await startApi(MEMORY, { metrics: false });
    try {
      expect((await none.http('/metrics', { who: 'admin' })).status).toBe(404);
    } finally {
      await none.close();
    }
  });

  it('serveMetrics: /metrics alone for a node without the API, public or behind auth', async () => {
    const h = await startHarness({ storage: memoryStorage(), tasks: MANAGEMENT_TASKS });
    const open = await serveMetrics({ container: h.container, public: true });
    const guarded = await serveMetrics({ container: h.container, auth: testAuth() });
    try {
      const run = await h.service.trigger({ definition: 'mgmt.echo', input: { count: 1 } });
      await h.service.wait(run.id, { timeout: 10_000 });
      const text = await (await fetch(open.url)).text();
      expect(text).toMatch(/^tasklane_runs_total\{definition="mgmt.echo",status="success"\} 1$/m);
      expect((await fetch(guarded.url)).status).toBe(401);
      expect((await fetch(guarded.url, { headers: bearer('viewer') })).status).toBe(200);
      expect(() => createMetricsHandler({ container: h.container })).toThrow(/auth/);
    } finally {
      await open.close();
      await guarded.close();
      await h.stop();
    }
  });

  it('insecureNoAuth: every caller is an admin, after one loud warning', async () => {
    const lines: string[] = [];
    const api = await startApi(MEMORY, { auth: undefined, insecureNoAuth: true }, { logger: captureLogger(lines, 'warn') });
    try {
      const me = await api.gql<{ me: { role: string } }>(`{ backgroundTasks { me { role } } }`, {}, 'none');
      expect(me.data!.backgroundTasks!.me.role).toBe('admin');
      expect(lines.filter((l) => l.includes('insecureNoAuth'))).toHaveLength(1);
    } finally {
      await api.close();
    }
  });
});
