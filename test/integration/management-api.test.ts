/**
 * The management API over HTTP (MANAGEMENT.md section 2), on memory, SQLite and PostgreSQL: every
 * operation through a real server on a free port, errors with tasklane's codes, cursors, live events.
 */
import { describeEachStorage } from '../reliability/storages';
import { TOKENS, type RunStorage } from '../../src';
import { RUN_FIELDS, startApi, type Api } from '../helpers/management-api';
import { makeRun } from '../helpers/make-run';
import { until } from '../helpers/wait';

const TRIGGER = `mutation($definition: ID!, $input: JSON, $key: String, $delay: Int) {
  backgroundTasks { triggerTask(definition: $definition, input: $input, key: $key, delay: $delay) { ${RUN_FIELDS} } } }`;
const GET = `query($id: ID!) { backgroundTasks { getTask(id: $id) { ${RUN_FIELDS} children { items { id } cursor } } } }`;

type Run = Record<string, unknown> & { id: string; status: string };

async function trigger(api: Api, definition: string, input?: unknown, who: 'operator' | 'admin' = 'operator'): Promise<Run> {
  const answer = await api.gql<{ triggerTask: Run }>(TRIGGER, { definition, input }, who);
  if (!answer.data?.backgroundTasks?.triggerTask) throw new Error(`trigger failed: ${answer.text}`);
  return answer.data.backgroundTasks.triggerTask;
}

async function runsCount(api: Api): Promise<number> {
  let n = 0;
  let after: string | undefined;
  do {
    const page = await api.gql<{ listTasks: { items: Run[]; cursor: string | null } }>(
      `query($after: String) { backgroundTasks { listTasks(limit: 1000, after: $after) { items { id } cursor } } }`,
      { after },
    );
    n += page.data!.backgroundTasks!.listTasks.items.length;
    after = page.data!.backgroundTasks!.listTasks.cursor ?? undefined;
  } while (after);
  return n;
}

describeEachStorage('management API', (kind) => {
  let api: Awaited<ReturnType<typeof startApi>>;

  beforeEach(async () => {
    api = await startApi(kind);
  });

  afterEach(async () => {
    await api.close();
  });

  it('lists the public definitions with their input schema and stats; private ones only for admins who ask', async () => {
    const list = await api.gql<{ listDefinitions: Array<Record<string, unknown>> }>(
      `{ backgroundTasks { listDefinitions { id title description isPrivate distributable maxIterations status inputSchema stats { queueSize evalNum } } } }`,
      {},
      'viewer',
    );
    expect(list.status).toBe(200);
    const defs = list.data!.backgroundTasks!.listDefinitions;
    expect(defs.map((d) => d.id).sort()).toEqual(['mgmt.echo', 'mgmt.fail', 'mgmt.flaky', 'mgmt.forever', 'mgmt.steps']);
    const echo = defs.find((d) => d.id === 'mgmt.echo')!;
    expect(echo).toMatchObject({
      title: 'Echo',
      description: 'Echoes its count',
      isPrivate: false,
      distributable: true,
      maxIterations: 50,
      status: 'idle',
      stats: { queueSize: 0, evalNum: 0 },
    });
    const schema = echo.inputSchema as Record<string, any>;
    expect(schema.properties.count).toMatchObject({ type: 'integer', minimum: 1, maximum: 100, title: 'How many', description: 'Items to echo' });
    expect(schema.required).toEqual(['count']);
    expect(defs.find((d) => d.id === 'mgmt.forever')!.inputSchema).toBeNull();

    const forbidden = await api.gql(`{ backgroundTasks { listDefinitions(includePrivate: true) { id } } }`, {}, 'operator');
    expect(forbidden.status).toBe(403);
    expect(forbidden.errors?.[0].extensions?.code).toBe('FORBIDDEN');
    const all = await api.gql<{ listDefinitions: Array<{ id: string }> }>(
      `{ backgroundTasks { listDefinitions(includePrivate: true) { id isPrivate } } }`,
      {},
      'admin',
    );
    expect(all.data!.backgroundTasks!.listDefinitions.map((d) => d.id)).toContain('mgmt.private');

    const get = `query($id: ID!) { backgroundTasks { getDefinition(id: $id) { id isPrivate } } }`;
    expect((await api.gql(get, { id: 'mgmt.private' }, 'operator')).data!.backgroundTasks).toEqual({ getDefinition: null });
    expect((await api.gql(get, { id: 'mgmt.private' }, 'admin')).data!.backgroundTasks).toEqual({ getDefinition: { id: 'mgmt.private', isPrivate: true } });
    expect((await api.gql(get, { id: 'nope' }, 'viewer')).data!.backgroundTasks).toEqual({ getDefinition: null });
  });

  it('triggers a run, reads it and its logs, and pages the runs by cursor, newest first', async () => {
    const run = await trigger(api, 'mgmt.echo', { count: 3 });
    expect(run).toMatchObject({ definitionId: 'mgmt.echo', status: 'pending', input: { count: 3 }, iterations: 0 });
    await api.harness.service.wait(run.id, { timeout: 10_000 });
    const got = await api.gql<{ getTask: Run }>(GET, { id: run.id }, 'viewer');
    expect(got.data!.backgroundTasks!.getTask).toMatchObject({
      id: run.id,
      status: 'success',
      output: { count: 3 },
      iterations: 1,
      attempt: 1,
      children: { items: [], cursor: null },
    });
    const logs = await api.gql<{ listLogs: { items: Array<Record<string, unknown>> } }>(
      `query($id: ID!) { backgroundTasks { listLogs(where: { taskId: $id }) { items { taskId type message data createdOn } cursor } } }`,
      { id: run.id },
      'viewer',
    );
    expect(logs.data!.backgroundTasks!.listLogs.items).toEqual([
      expect.objectContaining({ taskId: run.id, type: 'info', message: 'echo', data: { count: 3 } }),
    ]);

    const ids = [run.id];
    for (let i = 0; i < 4; i++) ids.push((await trigger(api, 'mgmt.echo', { count: i + 1 })).id);
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await api.gql<{ listTasks: { items: Run[]; cursor: string | null } }>(
        `query($after: String) { backgroundTasks { listTasks(where: { definitionId: "mgmt.echo" }, limit: 2, after: $after) { items { id } cursor } } }`,
        { after },
        'viewer',
      );
      const p = page.data!.backgroundTasks!.listTasks;
      expect(p.items.length).toBeLessThanOrEqual(2);
      seen.push(...p.items.map((r) => r.id));
      after = p.cursor ?? undefined;
    } while (after);
    expect(seen).toEqual([...ids].reverse());

    const bad = await api.gql(`{ backgroundTasks { listTasks(where: { status: "SUCCESS" }) { items { id } } } }`, {}, 'viewer');
    expect(bad.errors?.[0].extensions?.code).toBe('INVALID_ARGUMENT');
  });

  it('refuses bad input with INPUT_INVALID listing each property, and stores nothing', async () => {
    const before = await runsCount(api);
    const answer = await api.gql(TRIGGER, { definition: 'mgmt.echo', input: { count: 0, priority: 'urgent', extra: true } }, 'operator');
    expect(answer.data).toBeNull();
    const err = answer.errors![0];
    expect(err.extensions?.code).toBe('INPUT_INVALID');
    const paths = (err.extensions?.errors as Array<{ path: string; constraints: Record<string, string> }>).map((e) => e.path).sort();
    expect(paths).toEqual(['count', 'extra', 'priority']);
    expect(await runsCount(api)).toBe(before);

    const unknown = await api.gql(TRIGGER, { definition: 'mgmt.nope' }, 'operator');
    expect(unknown.errors?.[0].extensions?.code).toBe('UNKNOWN_DEFINITION');
    const priv = await api.gql(TRIGGER, { definition: 'mgmt.private' }, 'admin');
    expect(priv.errors?.[0].extensions?.code).toBe('UNKNOWN_DEFINITION');
    expect(await runsCount(api)).toBe(before);
  });

  it('aborts a run, disables and enables a definition, and answers stats and nodes', async () => {
    const abortsCounted = async () =>
      Number(/^tasklane_aborts_total\{definition="mgmt.forever"\} (\d+)$/m.exec(await (await api.http('/metrics', { who: 'viewer' })).text())?.[1] ?? 0);
    const abortsBefore = await abortsCounted();
    const run = await trigger(api, 'mgmt.forever');
    // running: its abort is requested (a pending run would end aborted at once, with another line)
    await until(async () => (await api.harness.service.get(run.id))?.status === 'running', 10_000, 'the run to start');
    const aborted = await api.gql<{ abortTask: Run }>(
      `mutation($id: ID!) { backgroundTasks { abortTask(id: $id, message: "stop it") { id status } } }`,
      { id: run.id },
      'operator',
    );
    expect(aborted.data!.backgroundTasks!.abortTask.id).toBe(run.id);
    const ended = await api.harness.service.wait(run.id, { timeout: 10_000 });
    expect(ended.status).toBe('aborted');
    expect(ended.error?.message).toBe('stop it');
    // the request is counted and logged once, whether the run's signal or storage's answer came first
    expect(await abortsCounted()).toBe(abortsBefore + 1);
    const lines = (await api.harness.service.listLogs({ runId: run.id })).items.map((l) => l.message);
    expect(lines.filter((m) => m.startsWith('abort requested'))).toEqual(['abort requested: stop it']);

    const missing = await api.gql(`mutation { backgroundTasks { abortTask(id: "01hzzzzzzzzzzzzzzzzzzzzzzz") { id } } }`, {}, 'operator');
    expect(missing.status).toBe(404);
    expect(missing.errors?.[0].extensions?.code).toBe('TASK_NOT_FOUND');

    const disabled = await api.gql<{ disableDefinition: { id: string; status: string } }>(
      `mutation { backgroundTasks { disableDefinition(id: "mgmt.echo") { id status } } }`,
      {},
      'operator',
    );
    expect(disabled.data!.backgroundTasks!.disableDefinition).toEqual({ id: 'mgmt.echo', status: 'disabled' });
    const waiting = await trigger(api, 'mgmt.echo', { count: 1 });
    await new Promise((r) => setTimeout(r, 400));
    expect((await api.harness.service.get(waiting.id))!.status).toBe('pending');
    const enabled = await api.gql<{ enableDefinition: { status: string } }>(
      `mutation { backgroundTasks { enableDefinition(id: "mgmt.echo") { status } } }`,
      {},
      'operator',
    );
    expect(enabled.data!.backgroundTasks!.enableDefinition.status).not.toBe('disabled');
    expect((await api.harness.service.wait(waiting.id, { timeout: 10_000 })).status).toBe('success');

    // a failed run's stack: for operators and admins, not viewers
    const failing = await trigger(api, 'mgmt.fail');
    await api.harness.service.wait(failing.id, { timeout: 10_000 });
    const errorOf = async (who: 'viewer' | 'operator') =>
      (
        await api.gql<{ getTask: { error: Record<string, unknown> } }>(
          `query($id: ID!) { backgroundTasks { getTask(id: $id) { error } } }`,
          { id: failing.id },
          who,
        )
      ).data!.backgroundTasks!.getTask.error;
    expect(await errorOf('operator')).toMatchObject({ message: 'it failed on purpose', stack: expect.stringContaining('it failed on purpose') });
    const seen = await errorOf('viewer');
    expect(seen).toMatchObject({ message: 'it failed on purpose' });
    expect(seen.stack).toBeUndefined();

    const stats = await api.gql<{ stats: Array<Record<string, unknown>> }>(
      `{ backgroundTasks { stats { definitionId status queueSize queuePeak evalNum errNum evalAvgTime lastError } } }`,
      {},
      'viewer',
    );
    expect(stats.data!.backgroundTasks!.stats.find((s) => s.definitionId === 'mgmt.echo')).toMatchObject({ evalNum: 1, errNum: 0 });
    const nodes = await api.gql<{ nodes: Array<Record<string, unknown>> }>(
      `{ backgroundTasks { nodes { id version accept startedOn lastSeenOn } } }`,
      {},
      'viewer',
    );
    expect(nodes.data!.backgroundTasks!.nodes).toEqual([expect.objectContaining({ id: api.harness.engine.nodeId, accept: {} })]);
  });

  it("streams a run's live events and completes after its final event; a run already ended completes at once", async () => {
    // the run waits (its definition disabled) until the subscription is open: events are not replayed
    await api.harness.service.disable('mgmt.steps');
    const run = await trigger(api, 'mgmt.steps', { steps: 3, ms: 150 }, 'operator');
    const sub = api.subscribe(
      `subscription($id: ID!) { backgroundTaskEvents(taskId: $id) { type progress run { id status iterations progress } } }`,
      { id: run.id },
      'viewer',
    );
    await until(() => api.server.handler.subscriptions === 1, 10_000, 'the subscription to open');
    await api.harness.service.enable('mgmt.steps');
    await sub.ended;
    expect(sub.errors).toEqual([]);
    const types = sub.events.map((e) => e.type);
    expect(types[types.length - 1]).toBe('done');
    expect(types).toContain('progress');
    expect(types).toContain('iteration');
    const last = sub.events[sub.events.length - 1].run as Run;
    expect(last).toMatchObject({ id: run.id, status: 'success', iterations: 3, progress: { current: 3, total: 3 } });
    expect(sub.events.every((e) => (e.run as Run).id === run.id)).toBe(true);

    const again = api.subscribe(`subscription($id: ID!) { backgroundTaskEvents(taskId: $id) { type } }`, { id: run.id }, 'viewer');
    await again.ended;
    expect(again.events).toEqual([]);
    expect(again.errors).toEqual([]);
    await until(() => api.server.handler.subscriptions === 0, 10_000, 'the subscriptions to close');

    // an unknown run: refused before any stream opens
    const unknown = await api.http('/graphql', {
      who: 'viewer',
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query: `subscription { backgroundTaskEvents(taskId: "01hzzzzzzzzzzzzzzzzzzzzzzz") { type } }` }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('TASK_NOT_FOUND');
  });

  it("streams the events of a definition's new runs", async () => {
    const sub = api.subscribe(`subscription { backgroundTaskEvents(definitionId: "mgmt.echo") { type run { id definitionId status } } }`, {}, 'viewer');
    await until(() => api.server.handler.subscriptions === 1, 10_000, 'the subscription to open');
    await trigger(api, 'mgmt.fail');
    const run = await trigger(api, 'mgmt.echo', { count: 2 });
    await sub.until((events) => events.some((e) => e.type === 'done' && (e.run as Run).id === run.id));
    expect(sub.events.filter((e) => (e.run as Run).id === run.id).map((e) => e.type)).toEqual(['submitted', 'started', 'done']);
    expect(sub.events.every((e) => (e.run as Run).definitionId === 'mgmt.echo')).toBe(true);
    sub.dispose();
    await until(() => api.server.handler.subscriptions === 0, 10_000, 'the subscription to close');
  });

  it('retries a run (retryTask), counts its retries, deletes finished runs only, restarts a definition, shows its locals', async () => {
    // a run retried by its policy: the retrying event, retries on the run, the metric, the locals
    const sub = api.subscribe(`subscription { backgroundTaskEvents(definitionId: "mgmt.flaky") { type error run { id retries status } } }`, {}, 'viewer');
    await until(() => api.server.handler.subscriptions === 1, 10_000, 'the subscription to open');
    const flaky = await trigger(api, 'mgmt.flaky');
    await sub.until((events) => events.some((e) => e.type === 'done'));
    sub.dispose();
    const retrying = sub.events.find((e) => e.type === 'retrying')!;
    expect(retrying).toMatchObject({ error: { message: 'first execution fails' }, run: { id: flaky.id } });
    const got = await api.gql<{ getTask: Run }>(
      `query($id: ID!) { backgroundTasks { getTask(id: $id) { id status retries retryOf output } } }`,
      { id: flaky.id },
      'viewer',
    );
    expect(got.data!.backgroundTasks!.getTask).toMatchObject({ status: 'success', retries: 1, retryOf: null, output: { retries: 1 } });
    const def = await api.gql<{ getDefinition: { locals: unknown; stats: { retryNum: number } } }>(
      `{ backgroundTasks { getDefinition(id: "mgmt.flaky") { locals stats { retryNum } } } }`,
      {},
      'viewer',
    );
    expect(def.data!.backgroundTasks!.getDefinition).toEqual({ locals: { succeeded: 1 }, stats: { retryNum: 1 } });
    expect(await (await api.http('/metrics', { who: 'viewer' })).text()).toMatch(/^tasklane_retries_total\{definition="mgmt.flaky"\} 1$/m);

    // retryTask: a new run of a finished one, with its input; an unfinished one is refused
    const failed = await trigger(api, 'mgmt.echo', { count: 4 });
    await api.harness.service.wait(failed.id, { timeout: 10_000 });
    const retried = await api.gql<{ retryTask: Run }>(
      `mutation($id: ID!) { backgroundTasks { retryTask(id: $id) { id retryOf input status } } }`,
      { id: failed.id },
      'operator',
    );
    expect(retried.data!.backgroundTasks!.retryTask).toMatchObject({ retryOf: failed.id, input: { count: 4 }, status: 'pending' });
    const forever = await trigger(api, 'mgmt.forever');
    const notFinished = await api.gql(`mutation($id: ID!) { backgroundTasks { retryTask(id: $id) { id } } }`, { id: forever.id }, 'operator');
    expect(notFinished.errors?.[0].extensions?.code).toBe('TASK_NOT_FINISHED');

    // deleteTask: a finished run (true, gone), an unfinished one refused, an unknown one false
    const del = (id: string) => api.gql<{ deleteTask: boolean }>(`mutation($id: ID!) { backgroundTasks { deleteTask(id: $id) } }`, { id }, 'admin');
    expect((await del(failed.id)).data!.backgroundTasks).toEqual({ deleteTask: true });
    expect(await api.harness.service.get(failed.id)).toBeNull();
    expect((await del(forever.id)).errors?.[0].extensions?.code).toBe('TASK_NOT_FINISHED');
    expect((await del('01hzzzzzzzzzzzzzzzzzzzzzzz')).data!.backgroundTasks).toEqual({ deleteTask: false });
    expect((await api.gql(`mutation($id: ID!) { backgroundTasks { deleteTask(id: $id) } }`, { id: flaky.id }, 'operator')).status).toBe(403);

    // restartDefinition: its runs aborted with the message, its locals cleared
    const restarted = await api.gql<{ restartDefinition: { id: string; locals: unknown } }>(
      `mutation { backgroundTasks { restartDefinition(id: "mgmt.forever", message: "maintenance") { id locals } } }`,
      {},
      'operator',
    );
    expect(restarted.data!.backgroundTasks!.restartDefinition).toEqual({ id: 'mgmt.forever', locals: {} });
    const ended = await api.harness.service.wait(forever.id, { timeout: 10_000 });
    expect(ended).toMatchObject({ status: 'aborted', error: { message: 'maintenance' } });
    await api.gql(`mutation { backgroundTasks { restartDefinition(id: "mgmt.flaky") { id } } }`, {}, 'operator');
    const cleared = await api.gql<{ getDefinition: { locals: unknown } }>(`{ backgroundTasks { getDefinition(id: "mgmt.flaky") { locals } } }`, {}, 'viewer');
    expect(cleared.data!.backgroundTasks!.getDefinition.locals).toEqual({});
  });

  it('counts a lease recovery when this node takes the run up, not when the run ends', async () => {
    // a run held by a node that died: running, its lease expired a second ago
    const storage = api.harness.container.get<RunStorage>(TOKENS.Storage);
    const now = Date.now();
    const [{ run: held }] = await storage.insertRuns([
      makeRun({
        definitionId: 'mgmt.forever',
        input: undefined,
        status: 'running',
        iterations: 1,
        attempt: 1,
        nodeId: 'dead-node',
        leaseToken: 'dead-lease',
        leaseExpiresAt: now - 1000,
        startedOn: new Date(now - 5000).toISOString(),
      }),
    ]);
    const recoveries = async () =>
      /^tasklane_lease_recoveries_total\{definition="mgmt.forever"\} (\d+)$/m.exec(await (await api.http('/metrics', { who: 'viewer' })).text())?.[1];
    await until(async () => (await api.harness.service.get(held.id))?.attempt === 2, 20_000);
    // taken up here and still running (mgmt.forever runs until aborted): counted already, once
    expect(await api.harness.service.get(held.id)).toMatchObject({ status: 'running', attempt: 2 });
    await until(async () => (await recoveries()) === '1', 10_000);
    await api.harness.service.abort({ id: held.id });
    await api.harness.service.wait(held.id, { timeout: 10_000 });
    expect(await recoveries()).toBe('1');
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    expect((await api.http('/healthz', { who: 'none' })).status).toBe(200);
    const ready = await api.http('/readyz', { who: 'none' });
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', engine: 'started', storage: 'ok' });
    expect((await api.http('/metrics', { who: 'none' })).status).toBe(401);
    const run = await trigger(api, 'mgmt.echo', { count: 1 });
    await api.harness.service.wait(run.id, { timeout: 10_000 });
    const metrics = await (await api.http('/metrics', { who: 'viewer' })).text();
    expect(metrics).toMatch(/^tasklane_runs_total\{definition="mgmt.echo",status="success"\} 1$/m);
    expect(metrics).toMatch(/^tasklane_runs_triggered_total\{definition="mgmt.echo"\} 1$/m);
    expect(metrics).toMatch(/^tasklane_iteration_duration_seconds_count\{definition="mgmt.echo"\} 1$/m);
    expect(metrics).toMatch(/^tasklane_pickup_delay_seconds_count\{definition="mgmt.echo"\} 1$/m);
    expect(metrics).toMatch(/^tasklane_run_duration_seconds_count\{definition="mgmt.echo",status="success"\} 1$/m);
    expect(metrics).toMatch(/^tasklane_nodes_live 1$/m);
    expect(metrics).toMatch(/^process_cpu_user_seconds_total /m);

    await api.harness.engine.stop();
    const notReady = await api.http('/readyz', { who: 'none' });
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toMatchObject({ status: 'not ready', engine: 'not started' });
  });
});
