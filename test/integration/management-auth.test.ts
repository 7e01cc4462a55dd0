/**
 * Who may do what (MANAGEMENT.md section 3), table-driven: every operation of the BUILT schema
 * against viewer, operator, admin, no token, an expired token, and a tenant's principal on another
 * tenant's run. Fails when the schema has an operation without a row in the role table (or without
 * a sample call here): a new operation cannot ship unguarded.
 */
import { GraphQLObjectType } from 'graphql';
import { createManagementHandler, createManagementSchema, OPERATION_ROLES, type Role } from '../../src/management';
import { MEMORY } from '../reliability/storages';
import { startApi, type Api, type Who } from '../helpers/management-api';

interface Sample {
  query: string;
  /** the run the call touches, when it touches one: an unfinished one, or a finished one */
  run?: 'open' | 'finished';
  sse?: boolean;
}

/** one call per operation of the role table; `$run` is a run id */
const SAMPLES: Record<string, Sample> = {
  'query.me': { query: `{ backgroundTasks { me { name role allowed } } }` },
  'query.listDefinitions': { query: `{ backgroundTasks { listDefinitions { id } } }` },
  'query.listDefinitions(includePrivate)': { query: `{ backgroundTasks { listDefinitions(includePrivate: true) { id } } }` },
  'query.getDefinition': { query: `{ backgroundTasks { getDefinition(id: "mgmt.echo") { id } } }` },
  'query.listTasks': { query: `{ backgroundTasks { listTasks(limit: 100) { items { id context } } } }` },
  'query.getTask': { query: `query($run: ID!) { backgroundTasks { getTask(id: $run) { id } } }`, run: 'open' },
  'query.listLogs': { query: `query($run: ID!) { backgroundTasks { listLogs(where: { taskId: $run }) { items { message } } } }`, run: 'open' },
  'query.stats': { query: `{ backgroundTasks { stats { definitionId lastError } } }` },
  'query.nodes': { query: `{ backgroundTasks { nodes { id } } }` },
  'mutation.triggerTask': {
    query: `mutation Op($run: ID!) { backgroundTasks { triggerTask(definition: "mgmt.echo", input: { count: 1 }, parent: $run) { id context } } }`,
    run: 'open',
  },
  'mutation.abortTask': { query: `mutation($run: ID!) { backgroundTasks { abortTask(id: $run) { id } } }`, run: 'open' },
  'mutation.retryTask': { query: `mutation($run: ID!) { backgroundTasks { retryTask(id: $run) { id } } }`, run: 'finished' },
  'mutation.deleteTask': { query: `mutation($run: ID!) { backgroundTasks { deleteTask(id: $run) } }`, run: 'finished' },
  'mutation.restartDefinition': { query: `mutation { backgroundTasks { restartDefinition(id: "mgmt.steps", message: "test") { id } } }` },
  'mutation.disableDefinition': { query: `mutation { backgroundTasks { disableDefinition(id: "mgmt.steps") { id } } }` },
  'mutation.enableDefinition': { query: `mutation { backgroundTasks { enableDefinition(id: "mgmt.steps") { id } } }` },
  'subscription.backgroundTaskEvents': { query: `subscription($run: ID!) { backgroundTaskEvents(taskId: $run) { type } }`, run: 'open', sse: true },
};

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };
const COLUMNS: Array<{ who: Who; role?: Role }> = [
  { who: 'viewer', role: 'viewer' },
  { who: 'operator', role: 'operator' },
  { who: 'admin', role: 'admin' },
  { who: 'none' },
  { who: 'expired' },
];

function operationsOfSchema(api: Api): string[] {
  const schema = createManagementSchema({ container: api.harness.container });
  const ops: string[] = [];
  for (const [type, root] of [
    ['BackgroundTasksQuery', 'query'],
    ['BackgroundTasksMutation', 'mutation'],
    ['Subscription', 'subscription'],
  ] as const) {
    const t = schema.getType(type);
    if (!(t instanceof GraphQLObjectType)) throw new Error(`${type} missing`);
    ops.push(...Object.keys(t.getFields()).map((f) => `${root}.${f}`));
  }
  return ops;
}

interface Outcome {
  status: number;
  code?: string;
  data?: unknown;
}

async function call(api: Api, sample: Sample, runs: { open: string; finished: string }, who: Who): Promise<Outcome> {
  const run = sample.run ? runs[sample.run] : undefined;
  const body = JSON.stringify({
    query: sample.query,
    variables: run !== undefined ? { run } : {},
    ...(sample.query.includes('mutation Op') ? { operationName: 'Op' } : {}),
  });
  const ac = new AbortController();
  const res = await api.http('/graphql', {
    who,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: sample.sse ? 'text/event-stream' : 'application/json' },
    body,
    signal: ac.signal,
  });
  if (sample.sse && res.status === 200) {
    ac.abort(); // the stream opened: that is the answer
    return { status: 200 };
  }
  let text = await res.text();
  // a refused subscription is answered as an event stream too: its first data line
  if (sample.sse && !text.startsWith('{')) text = /^data: (\{.*\})$/m.exec(text)?.[1] ?? text;
  const parsed = JSON.parse(text) as { data?: { backgroundTasks?: unknown }; errors?: Array<{ extensions?: { code?: string } }> };
  return { status: res.status, code: parsed.errors?.[0]?.extensions?.code, data: parsed.data?.backgroundTasks };
}

describe('management authorisation', () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  let mine: { open: string; finished: string };
  let others: { open: string; finished: string };

  beforeAll(async () => {
    api = await startApi(MEMORY);
    const service = api.harness.service;
    const finished = async (context?: { tenant: string }) => {
      const run = await service.trigger({ definition: 'mgmt.echo', input: { count: 1 }, ...(context ? { context } : {}) });
      return (await service.wait(run.id, { timeout: 10_000 })).id;
    };
    mine = { open: (await service.trigger({ definition: 'mgmt.forever' })).id, finished: await finished() };
    others = { open: (await service.trigger({ definition: 'mgmt.forever', context: { tenant: 'other' } })).id, finished: await finished({ tenant: 'other' }) };
  });

  afterAll(async () => {
    await api.close();
  });

  it('every operation of the built schema has a row in the role table and a sample call here', () => {
    const ops = operationsOfSchema(api);
    expect(ops.length).toBeGreaterThanOrEqual(12);
    expect(ops.filter((op) => !OPERATION_ROLES.has(op))).toEqual([]);
    expect(ops.filter((op) => !SAMPLES[op])).toEqual([]);
    // rows of arguments belong to an operation of the schema
    for (const key of OPERATION_ROLES.keys()) expect(ops).toContain(key.replace(/\(.*\)$/, ''));
  });

  const cases = [...OPERATION_ROLES.keys()].flatMap((op) => COLUMNS.map((c) => [op, c.who, c.role] as const));
  it.each(cases)('%s as %s', async (op, who, role) => {
    const outcome = await call(api, SAMPLES[op], mine, who);
    if (role === undefined) {
      expect(outcome).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    } else if (RANK[role] < RANK[OPERATION_ROLES.get(op)!]) {
      expect(outcome).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    } else {
      expect(outcome.status).toBe(200);
      expect(outcome.code).toBeUndefined();
    }
  });

  it.each([...OPERATION_ROLES.keys()])("%s as a tenant's operator on another tenant's run", async (op) => {
    const sample = SAMPLES[op];
    const outcome = await call(api, sample, others, 'acmeOperator');
    const needed = OPERATION_ROLES.get(op)!;
    if (RANK[needed] > RANK.operator) return expect(outcome).toMatchObject({ status: 403, code: 'FORBIDDEN' });
    // never "forbidden" for a run: it is not found (null, or TASK_NOT_FOUND)
    expect(outcome.code).not.toBe('FORBIDDEN');
    if (!sample.run) {
      expect(outcome.status).toBe(200);
      if (op === 'query.listTasks') for (const id of [...Object.values(others), ...Object.values(mine)]) expect(JSON.stringify(outcome.data)).not.toContain(id);
      return;
    }
    if (op === 'query.getTask') return expect(outcome).toEqual({ status: 200, data: { getTask: null } });
    expect(outcome).toMatchObject({ status: 404, code: 'TASK_NOT_FOUND' });
  });

  it("a tenant's triggers carry its tenant, and it sees its own runs only", async () => {
    const answer = await api.gql<{ triggerTask: { id: string; context: unknown } }>(
      `mutation { backgroundTasks { triggerTask(definition: "mgmt.echo", input: { count: 2 }, key: "k1") { id context key } } }`,
      {},
      'acmeOperator',
    );
    const run = answer.data!.backgroundTasks!.triggerTask;
    expect(run).toMatchObject({ context: { tenant: 'acme' }, key: 'tenant:acme:k1' });
    const list = await api.gql<{ listTasks: { items: Array<{ id: string }> } }>(
      `{ backgroundTasks { listTasks(limit: 100) { items { id } } } }`,
      {},
      'acmeViewer',
    );
    expect(list.data!.backgroundTasks!.listTasks.items.map((r) => r.id)).toContain(run.id);
    expect(list.data!.backgroundTasks!.listTasks.items.map((r) => r.id)).toEqual([run.id]);
    const me = await api.gql<{ me: { role: string; tenant: string; allowed: string[] } }>(
      `{ backgroundTasks { me { role tenant allowed } } }`,
      {},
      'acmeViewer',
    );
    expect(me.data!.backgroundTasks!.me).toMatchObject({ role: 'viewer', tenant: 'acme' });
    expect(me.data!.backgroundTasks!.me.allowed).not.toContain('mutation.abortTask');
    expect(me.data!.backgroundTasks!.me.allowed).toContain('query.getTask');
  });

  it("a tenant's pages are full among many runs of other tenants, and a tenant asked for is its own or none", async () => {
    const service = api.harness.service;
    const parent = await service.trigger({ definition: 'mgmt.forever', context: { tenant: 'acme' } });
    const acme: string[] = [];
    for (let i = 0; i < 5; i++) {
      acme.push((await service.trigger({ definition: 'mgmt.forever', parent: parent.id, context: { tenant: 'acme' } })).id);
      for (let j = 0; j < 60; j++) await service.trigger({ definition: 'mgmt.forever', parent: parent.id, context: { tenant: `noise${j % 3}` } });
    }
    type ListAnswer = { listTasks: { items: Array<{ id: string }>; cursor: string | null } };
    const page = async (who: 'acmeViewer' | 'viewer', after: string | null, where: Record<string, unknown> = { parentId: parent.id }) =>
      (
        await api.gql<ListAnswer>(
          `query ($after: String, $where: TaskRunsWhere) { backgroundTasks { listTasks(where: $where, limit: 2, after: $after) { items { id } cursor } } }`,
          { after, where },
          who,
        )
      ).data!.backgroundTasks!.listTasks;
    const pages: string[][] = [];
    let after: string | null = null;
    do {
      const p: ListAnswer['listTasks'] = await page('acmeViewer', after);
      pages.push(p.items.map((r) => r.id));
      after = p.cursor;
    } while (after !== null && pages.length < 10);
    // newest first, in pages of 2 (storage filters by tenant: no short or empty pages)
    expect(pages).toEqual([[acme[4], acme[3]], [acme[2], acme[1]], [acme[0]]]);
    // another tenant asked for by a tenant's principal: nothing; by an unrestricted one: that tenant's
    expect((await page('acmeViewer', null, { parentId: parent.id, tenant: 'noise1' })).items).toEqual([]);
    expect((await page('acmeViewer', null, { parentId: parent.id, tenant: 'acme' })).items.map((r) => r.id)).toEqual([acme[4], acme[3]]);
    expect((await page('viewer', null, { parentId: parent.id, tenant: 'acme' })).items.map((r) => r.id)).toEqual([acme[4], acme[3]]);
    // a run's children, seen by the tenant's principal: its tenant's only
    const children = await api.gql<{ getTask: { children: { items: Array<{ id: string }> } } }>(
      `query ($id: ID!) { backgroundTasks { getTask(id: $id) { children(limit: 10) { items { id } } } } }`,
      { id: parent.id },
      'acmeViewer',
    );
    expect(children.data!.backgroundTasks!.getTask.children.items.map((r) => r.id)).toEqual([...acme].reverse());
    await service.abort({ id: parent.id });
  });

  it('needs auth (or an explicit insecureNoAuth) to build a handler, and 401s every route but health and the dashboard', async () => {
    expect(() => createManagementHandler({ container: api.harness.container } as never)).toThrow(/auth/);
    for (const path of ['/graphql', '/metrics']) {
      const res = await api.http(path, { who: 'none' });
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
    expect((await api.http('/healthz', { who: 'none' })).status).toBe(200);
    expect((await api.http('/readyz', { who: 'none' })).status).toBe(200);
  });
});
