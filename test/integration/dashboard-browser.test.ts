/**
 * The dashboard end to end, in Debian's headless Chromium driven by playwright-core, against a real
 * management server (real engine, SQLite in a temp dir, the tasks of test/fixtures/dashboard-tasks).
 * One browser for the file; each test signs in on a page of its own (sessionStorage is per tab).
 * Screenshots of every page go to test-output/ (git-ignored).
 */
import 'reflect-metadata';
import { join } from 'node:path';
import { Container } from 'inversify';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { registerTasks, sqliteStorage, tasklane, TaskEngine, TaskService } from '../../src';
import { serveManagement, tokenAuth } from '../../src/management';
import { buildDashboard, launchChromium, TEST_OUTPUT } from '../helpers/browser';
import { tempDir } from '../helpers/temp-files';
import { DASHBOARD_TASKS, FlakyLedger } from '../fixtures/dashboard-tasks';

jest.setTimeout(120_000);

const TOKENS = {
  operator: 'op-3f1c9a7e5d2b4c6a8e0f1b3d5c7a9e2f',
  viewer: 'view-8b2d4f6a1c3e5b7d9f0a2c4e6b8d0f1a',
  admin: 'adm-5e7a9c1b3d5f7e9a1c3b5d7f9e1a3c5b',
};

let tmp: ReturnType<typeof tempDir>;
let container: Container;
let engine: TaskEngine;
let service: TaskService;
let server: { url: string; close(): Promise<void> };
let browser: Browser;
let context: BrowserContext;
let dashboard: string;

beforeAll(async () => {
  dashboard = buildDashboard();
  tmp = tempDir('tasklane-dashboard-');
  container = new Container();
  container.bind(FlakyLedger).toSelf().inSingletonScope();
  await container.load(tasklane({ storage: sqliteStorage({ file: join(tmp.dir, 'tasks.db') }), concurrency: 80 }));
  registerTasks(container, DASHBOARD_TASKS);
  engine = container.get(TaskEngine);
  service = container.get(TaskService);
  await engine.start();
  server = await serveManagement({
    container,
    dashboard,
    port: 0,
    host: '127.0.0.1',
    auth: tokenAuth({
      tokens: [
        { token: TOKENS.operator, role: 'operator', name: 'ops' },
        { token: TOKENS.viewer, role: 'viewer', name: 'watcher' },
        { token: TOKENS.admin, role: 'admin', name: 'root' },
      ],
    }),
  });
  browser = await launchChromium();
  context = await newContext();
});

/** A browser context (its own sessionStorage); waits for the page give up after 15 s, not playwright's 30. */
async function newContext(): Promise<BrowserContext> {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await server?.close();
  await engine?.stop({ graceful: false });
  tmp?.remove();
});

/** Saves a screenshot of the page, and checks that every control on it has an accessible name. */
async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(TEST_OUTPUT, `dashboard-${name}.png`), fullPage: true });
  expect({ page: name, unnamed: await unnamedControls(page) }).toEqual({ page: name, unnamed: [] });
}

const CONTROL_ROLES = new Set(['button', 'link', 'textbox', 'combobox', 'checkbox', 'progressbar', 'spinbutton', 'listbox', 'radio', 'switch']);

/** The controls Chromium's accessibility tree gives no name (what a screen reader would announce as "button"). */
async function unnamedControls(page: Page): Promise<string[]> {
  const cdp = await page.context().newCDPSession(page);
  try {
    const { nodes } = (await cdp.send('Accessibility.getFullAXTree')) as unknown as {
      nodes: Array<{ ignored: boolean; role?: { value: unknown }; name?: { value: unknown } }>;
    };
    return nodes
      .filter((n) => !n.ignored && CONTROL_ROLES.has(String(n.role?.value)) && String(n.name?.value ?? '').trim() === '')
      .map((n) => String(n.role?.value));
  } finally {
    await cdp.detach();
  }
}

/** A new tab, signed in with `token`, on the Definitions view. */
async function signedIn(token: string, ctx: BrowserContext = context, url = server.url): Promise<Page> {
  const page = await ctx.newPage();
  await page.goto(url.replace(/\/?$/, '/'));
  await page.getByLabel('Token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Definitions', level: 1 }).waitFor();
  return page;
}

function runStatus(page: Page) {
  return page.locator('#run-status');
}

function runIdFromUrl(page: Page): string {
  const m = /#\/runs\/([^/?]+)$/.exec(page.url());
  if (!m) throw new Error(`not a run page: ${page.url()}`);
  return decodeURIComponent(m[1]);
}

test('signs in with a token kept in the tab only; a wrong token is refused', async () => {
  const page = await context.newPage();
  await page.goto(server.url);
  await shot(page, 'sign-in');
  await page.getByLabel('Token').fill('not-a-token');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expectText(page.getByRole('alert').first(), /refused/);

  // with the keyboard alone: the Token field has focus, Enter submits
  await page.getByLabel('Token').fill('');
  await page.keyboard.type(TOKENS.operator);
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { name: 'Definitions', level: 1 }).waitFor();
  const nav = page.getByRole('navigation', { name: 'Main' });
  for (const name of ['Definitions', 'Runs', 'Nodes']) expect(await nav.getByRole('link', { name }).count()).toBe(1);
  // one row per visible definition, with its stats and a Trigger button
  const row = page.getByRole('row', { name: /demo\.import/ });
  await expectText(row, /idle/);
  expect(await row.getByRole('button', { name: 'Trigger' }).count()).toBe(1);
  expect(await page.getByRole('button', { name: 'Trigger' }).count()).toBe(DASHBOARD_TASKS.length);

  expect(await page.evaluate(`sessionStorage.getItem('tasklane.token')`)).toBe(TOKENS.operator);
  expect(await page.evaluate('localStorage.length')).toBe(0);
  expect(page.url()).not.toContain(TOKENS.operator);
  await shot(page, 'definitions');

  // the token lives in this tab only: a new tab starts signed out
  const other = await context.newPage();
  await other.goto(server.url);
  await other.getByRole('button', { name: 'Sign in' }).waitFor();
  await other.close();
  await page.close();
});

test('triggers from the generated form: checks before sending, shows the server INPUT_INVALID beside the field, then opens the run and its progress reaches 100%', async () => {
  const page = await signedIn(TOKENS.operator);
  await page
    .getByRole('row', { name: /demo\.import/ })
    .getByRole('button', { name: 'Trigger' })
    .click();
  await page.getByRole('heading', { name: /Trigger Import users/ }).waitFor();

  // one labelled control per property: title, else name
  const count = page.getByLabel('How many');
  const mode = page.getByLabel('Mode');
  const code = page.getByLabel('Batch code');
  const city = page.getByLabel('City');
  expect(await count.getAttribute('type')).toBe('text');
  expect(await mode.evaluate((e) => e.tagName)).toBe('SELECT');
  expect(await page.getByLabel('Dry run').getAttribute('type')).toBe('checkbox');
  expect(await page.getByRole('group', { name: /Ship to/ }).count()).toBe(1);
  expect(await page.getByRole('group', { name: /Tags/ }).count()).toBe(1);

  // the client's own check: nothing is sent
  await count.fill('0');
  await mode.selectOption('fast');
  await code.fill('abc');
  await city.fill('Oslo');
  await page.getByLabel('Step time (ms)').fill('150');
  await page.getByRole('button', { name: 'Submit' }).click();
  await expectText(describedBy(page, count), /must be at least 1/);
  expect(await count.getAttribute('aria-invalid')).toBe('true');
  expect((await service.listRuns({ definition: 'demo.import' })).items).toHaveLength(0);

  // a constraint the schema does not carry (lowercase): the server refuses, the error sits beside the field
  await count.fill('5');
  await code.fill('ABC');
  await page.getByRole('button', { name: 'Add Tags' }).click();
  await page.getByLabel('Tags 1').fill('vip');
  await page.getByRole('button', { name: 'Submit' }).click();
  await expectText(describedBy(page, code), /lowercase/);
  expect(await count.getAttribute('aria-invalid')).toBeNull();
  expect((await service.listRuns({ definition: 'demo.import' })).items).toHaveLength(0);
  await shot(page, 'trigger-form-errors');

  await code.fill('abc');
  await page.getByRole('button', { name: 'Submit' }).click();
  await page.waitForURL(/#\/runs\/[^/]+$/);
  const id = runIdFromUrl(page);
  const stored = await service.get(id);
  expect(stored?.input).toEqual({ count: 5, mode: 'fast', code: 'abc', dryRun: false, shipTo: { city: 'Oslo' }, tags: ['vip'], stepMs: 150 });

  const bar = page.getByRole('progressbar', { name: `Progress of run ${id}` });
  await waitFor(async () => (await bar.getAttribute('aria-valuenow')) === '5', 'the progress bar reached 5');
  expect(await bar.getAttribute('aria-valuemax')).toBe('5');
  await expectText(runStatus(page), 'success');
  await expectText(page.getByLabel('Output'), /"imported": 5/);
  await expectText(page.getByRole('list', { name: 'Log lines' }), /imported user 5 of 5/);
  await shot(page, 'run-success');
  await page.close();
});

test('aborts another run with a message; it ends aborted', async () => {
  const run = await service.trigger({ definition: 'demo.import', input: { count: 20, mode: 'safe', code: 'slow', shipTo: { city: 'Rome' }, stepMs: 1000 } });
  const page = await signedIn(TOKENS.operator);
  await page.goto(`${server.url.replace(/\/?$/, '/')}#/runs/${run.id}`);
  await expectText(runStatus(page), 'running');
  await page.getByRole('button', { name: 'Abort', exact: true }).click();
  await page.getByLabel('Abort message').fill('stopped from the dashboard');
  await page.getByRole('button', { name: 'Confirm abort' }).click();
  await expectText(runStatus(page), 'aborted');
  expect((await service.wait(run.id, { timeout: 10_000 })).status).toBe('aborted');
  expect(await page.getByRole('button', { name: 'Abort', exact: true }).count()).toBe(0);
  await shot(page, 'run-aborted');
  await page.close();
});

test('retries a failed run: the new run has the same input and ends success', async () => {
  const failed = await service.trigger({ definition: 'demo.flaky', input: { key: 'crm-sync' } });
  expect((await service.wait(failed.id, { timeout: 10_000 })).status).toBe('failed');
  const page = await signedIn(TOKENS.operator);
  await page.goto(`${server.url.replace(/\/?$/, '/')}#/runs/${failed.id}`);
  await expectText(runStatus(page), 'failed');
  await expectText(page.locator('.error-message'), /partner API unavailable for crm-sync/);
  await shot(page, 'run-failed');
  await page.getByRole('button', { name: 'Retry' }).click();
  await waitFor(async () => !page.url().endsWith(failed.id), 'the page moved to the new run');
  const retried = runIdFromUrl(page);
  expect(retried).not.toBe(failed.id);
  await expectText(runStatus(page), 'success');
  expect((await service.get(retried))?.input).toEqual({ key: 'crm-sync' });
  expect((await service.get(retried))?.retryOf).toBe(failed.id);
  // the new run names the one it retries, as a link back to it
  const back = page.getByRole('link', { name: `Retry of run ${failed.id}` });
  await back.waitFor();
  expect(await fact(page, 'Retries').textContent()).toBe('0');
  await shot(page, 'run-retried');
  await back.click();
  await page.waitForURL(new RegExp(`#/runs/${failed.id}$`));
  await expectText(runStatus(page), 'failed');
  await page.close();
});

test('a run with a retry policy: its page follows it back to pending with its last error, then to success, counting attempts and retries', async () => {
  const page = await signedIn(TOKENS.operator);
  // the first execution fails; the retry is due 6 s later (time to open the page meanwhile)
  const run = await service.trigger({
    definition: 'demo.flaky',
    input: { key: 'retry-policy' },
    retry: { attempts: 3, backoff: { type: 'fixed', delay: 6000 } },
  });
  await waitFor(async () => (await service.get(run.id))?.retries === 1, 'the run went back to pending for its retry');
  await page.goto(`${server.url.replace(/\/?$/, '/')}#/runs/${run.id}`);
  await expectText(runStatus(page), 'pending');
  await expectText(page.getByRole('heading', { name: /Last error/ }), 'Last error, before retry 1');
  await expectText(page.locator('.error-message'), /partner API unavailable for retry-policy/);
  await expectText(fact(page, 'Retries'), /^1 \(the next attempt is due /);
  await shot(page, 'run-retrying');
  // the page follows the run live: the retry starts and succeeds
  await expectText(runStatus(page), 'success', 30_000);
  // the error of the first attempt goes with the status that ends it: the page never says "Error" over a success
  expect(await page.getByRole('heading', { name: /error/i }).count()).toBe(0);
  await expectText(fact(page, 'Retries'), /^1$/);
  expect(await fact(page, 'Attempts').textContent()).toBe('2');
  await expectText(page.getByRole('list', { name: 'Log lines' }), /failed, retrying \(retry 1\)/);
  await shot(page, 'run-retry-succeeded');
  await page.close();
});

test('a definition page shows its task locals to a viewer; an operator restarts it with a message: its running run ends aborted, its locals are cleared', async () => {
  for (const items of [3, 4]) {
    const done = await service.trigger({ definition: 'demo.sync', input: { items } });
    expect((await service.wait(done.id, { timeout: 10_000 })).status).toBe('success');
  }
  const viewerContext = await newContext();
  try {
    const viewer = await signedIn(TOKENS.viewer, viewerContext);
    await viewer.getByRole('link', { name: 'demo.sync', exact: true }).click();
    await viewer.getByRole('heading', { name: 'Sync catalogue', level: 1 }).waitFor();
    await expectText(viewer.getByRole('region', { name: 'Locals' }), /synced\s*7/);
    for (const name of ['Trigger', 'Disable', 'Enable', 'Restart']) expect(await viewer.getByRole('button', { name, exact: true }).count()).toBe(0);
    await shot(viewer, 'viewer-definition');
    await viewer.close();
  } finally {
    await viewerContext.close();
  }

  const long = await service.trigger({ definition: 'demo.sync', input: { items: 30, stepMs: 1000 } });
  await waitFor(async () => (await service.get(long.id))?.status === 'running', 'the long sync is running');
  const page = await signedIn(TOKENS.operator);
  await page.getByRole('link', { name: 'demo.sync', exact: true }).click();
  await page.getByRole('heading', { name: 'Sync catalogue', level: 1 }).waitFor();
  const locals = page.getByRole('region', { name: 'Locals' });
  await expectText(locals, /lastBatch/);
  await expectText(page.getByRole('list', { name: 'Latest runs' }), 'running');
  await page.getByRole('button', { name: 'Restart', exact: true }).click();
  await page.getByLabel('Restart message').fill('catalogue source changed');
  await shot(page, 'definition-restart');
  await page.getByRole('button', { name: 'Confirm restart' }).click();
  await expectText(page.getByRole('status').filter({ hasText: /Restarted/ }), /locals were cleared/);
  const ended = await service.wait(long.id, { timeout: 15_000 });
  expect(ended.status).toBe('aborted');
  expect(ended.error?.message).toBe('catalogue source changed');
  expect(await service.locals('demo.sync')).toEqual({});
  await expectText(locals, /none/);
  await expectText(fact(page, 'Evaluations'), /^0$/);
  await expectText(page.getByRole('list', { name: 'Latest runs' }), 'aborted');
  await shot(page, 'definition-restarted');
  await page.close();
});

test('runs view: filters by definition and status, 50 runs reporting progress every 100 ms update live, batched per animation frame', async () => {
  // 600 steps of 100 ms: they keep reporting for the whole measure, however slow the machine (aborted at the end)
  const runs = await Promise.all(
    Array.from({ length: 50 }, (_, i) => service.trigger({ definition: 'demo.ticker', name: `ticker ${i + 1}`, input: { steps: 600, everyMs: 100 } })),
  );
  let progressEvents = 0;
  const off = service.on('progress', () => void progressEvents++);
  const page = await signedIn(TOKENS.operator);
  try {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
    await page.getByLabel('Definition').selectOption('demo.ticker');
    await page.getByLabel('Status').selectOption('running');
    await waitFor(async () => (await page.getByRole('progressbar').count()) === 50, '50 progress bars');

    // count DOM mutation batches and animation frames in the page
    // (browser code as text: the test's TypeScript has no DOM types)
    await page.evaluate(`(() => {
      const probe = { mutations: 0, frames: 0, stop: false };
      window.__probe = probe;
      new MutationObserver(() => { probe.mutations++; })
        .observe(document.querySelector('tbody'), { subtree: true, childList: true, attributes: true, characterData: true });
      const frame = () => { probe.frames++; if (!probe.stop) requestAnimationFrame(frame); };
      requestAnimationFrame(frame);
    })()`);
    const before = progressEvents;
    const valueBefore = await page.getByRole('progressbar').first().getAttribute('aria-valuenow');
    // the window lasts until the page had at least twice as many events as frames (and 600 at
    // least): about 3 s on an idle machine (some 500 events a second), longer on a loaded one,
    // where both the events and the frames slow down
    await waitFor(
      async () => {
        const frames = (await page.evaluate('window.__probe.frames')) as number;
        const events = progressEvents - before;
        return events >= 600 && events >= 2 * frames;
      },
      'twice as many progress events as frames',
      30_000,
    );
    const probe = (await page.evaluate(`(() => { window.__probe.stop = true; return window.__probe; })()`)) as { mutations: number; frames: number };
    const events = progressEvents - before;
    // the rows followed the events...
    expect(Number(await page.getByRole('progressbar').first().getAttribute('aria-valuenow'))).toBeGreaterThan(Number(valueBefore));
    // ...applied at most once per frame: a render per event would have made about twice as many
    // mutation batches as frames, or more (the window holds at least twice as many events)
    expect(probe.mutations).toBeLessThanOrEqual(probe.frames + 2);
    console.log(`dashboard live test: ${events} progress events, ${probe.frames} frames, ${probe.mutations} DOM mutation batches`);
    await shot(page, 'runs-live');
  } finally {
    off();
    await Promise.all(runs.map((r) => service.abort({ id: r.id })));
    await Promise.all(runs.map((r) => service.wait(r.id, { timeout: 20_000 })));
    await page.close();
  }
});

test('a viewer finds no Trigger, Disable, Abort, Retry or Delete button; an admin finds Delete', async () => {
  const running = await service.trigger({
    definition: 'demo.import',
    input: { count: 20, mode: 'safe', code: 'view', shipTo: { city: 'Bern' }, stepMs: 1000 },
  });
  const finished = await service.trigger({ definition: 'demo.flaky', input: { key: 'viewer-check' } });
  await service.wait(finished.id, { timeout: 10_000 });
  const viewerContext = await newContext();
  try {
    const page = await signedIn(TOKENS.viewer, viewerContext);
    expect(await page.getByRole('button', { name: 'Trigger' }).count()).toBe(0);
    expect(await page.getByRole('button', { name: /^(Disable|Enable)$/ }).count()).toBe(0);
    await shot(page, 'viewer-definitions');
    for (const id of [running.id, finished.id]) {
      await page.goto(`${server.url.replace(/\/?$/, '/')}#/runs/${id}`);
      await page.getByRole('heading', { name: new RegExp(`Run ${id}`) }).waitFor();
      await page.getByRole('heading', { name: 'Input' }).waitFor();
      for (const name of ['Abort', 'Retry', 'Delete']) expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
    }
    await shot(page, 'viewer-run');
    await page.close();

    const admin = await signedIn(TOKENS.admin, viewerContext);
    await admin.goto(`${server.url.replace(/\/?$/, '/')}#/runs/${finished.id}`);
    await admin.getByRole('button', { name: 'Delete', exact: true }).click();
    await admin.getByRole('button', { name: 'Confirm delete' }).click();
    await admin.waitForURL(/#\/runs\?definition=demo\.flaky$/);
    expect(await service.get(finished.id)).toBeNull();
    await admin.close();
  } finally {
    await viewerContext.close();
    await service.abort({ id: running.id });
  }
});

test('the nodes view lists this node; an expired token sends the page back to sign in', async () => {
  // a second server on the same engine, with a token that expires some seconds from now (time to
  // sign in and open the nodes view on a busy machine)
  const until = Date.now() + 12_000;
  const token = 'short-1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d';
  const second = await serveManagement({
    container,
    dashboard,
    port: 0,
    host: '127.0.0.1',
    auth: tokenAuth({ tokens: [{ token, role: 'operator', name: 'temp', expiresAt: new Date(until) }] }),
  });
  try {
    const page = await signedIn(token, context, second.url);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Nodes' }).click();
    await page.getByRole('heading', { name: 'Nodes', level: 1 }).waitFor();
    await page.getByRole('row', { name: new RegExp(engine.nodeId) }).waitFor();
    expect(await page.getByRole('row').count()).toBe(2); // header + this node
    await shot(page, 'nodes');
    await page.waitForTimeout(Math.max(0, until - Date.now() + 300));
    // the next request sends the page back to sign in: the one the Runs link makes, or the nodes
    // view's own refresh when it came first (on a busy machine it may have, and the link is gone)
    const runsLink = page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' });
    if (await runsLink.isVisible()) await runsLink.click({ timeout: 2000 }).catch(() => undefined);
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await expectText(page.getByRole('status'), /sign in again/);
    expect(await page.evaluate(`sessionStorage.getItem('tasklane.token')`)).toBeNull();
    await page.close();
  } finally {
    await second.close();
  }
});

test('the runs view pages through 100,000 stored runs, each page as quick as the first', async () => {
  const started = Date.now();
  for (let batch = 0; batch < 100; batch++) {
    // delayed by an hour: stored, pending, never run during the test
    await Promise.all(Array.from({ length: 1000 }, () => service.trigger({ definition: 'demo.backlog', delay: 3_600_000 })));
  }
  console.log(`dashboard paging test: 100,000 runs stored in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const page = await signedIn(TOKENS.operator);
  const pager = page.getByRole('navigation', { name: 'Pages of runs' });
  const rows = page.getByRole('table', { name: 'Runs, newest first' }).locator('tbody tr');
  const timings: number[] = [];
  let t = Date.now();
  await page.goto(`${server.url.replace(/\/?$/, '/')}#/runs?definition=demo.backlog`);
  await waitFor(async () => (await rows.count()) === 50 && (await rows.first().textContent())!.includes('demo.backlog'), 'the first page');
  timings.push(Date.now() - t);
  const seen = new Set<string>();
  for (let n = 2; n <= 6; n++) {
    const firstBefore = await rows.first().locator('code').textContent();
    seen.add(firstBefore!);
    t = Date.now();
    await pager.getByRole('button', { name: 'Older' }).click();
    await expectText(pager, `Page ${n}`);
    await waitFor(async () => (await rows.first().locator('code').textContent()) !== firstBefore, `page ${n}`);
    timings.push(Date.now() - t);
    expect(await rows.count()).toBe(50);
  }
  const firstNow = await rows.first().locator('code').textContent();
  expect(seen.has(firstNow!)).toBe(false);
  await pager.getByRole('button', { name: 'Newer' }).click();
  await expectText(pager, 'Page 5');
  // the unfiltered view, over every stored run
  t = Date.now();
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Runs' }).click();
  await page.getByLabel('Definition').selectOption('');
  await waitFor(async () => (await rows.count()) === 50, 'the unfiltered first page');
  timings.push(Date.now() - t);
  console.log(`dashboard paging test: page loads ${timings.map((ms) => `${ms} ms`).join(', ')}`);
  // generous on a busy machine: a page never costs a scan of 100,000 rows
  for (const ms of timings) expect(ms).toBeLessThan(5000);
  await shot(page, 'runs-paged');
  await page.close();
});

/** The value (`dd`) beside a term (`dt`) of a page's facts lists, e.g. a run's Retries. */
function fact(page: Page, term: string) {
  return page.locator('dt', { hasText: new RegExp(`^${term}$`) }).locator('xpath=following-sibling::dd[1]');
}

/** The text of the elements a control names with aria-describedby: its error beside it, its hint. */
function describedBy(page: Page, control: ReturnType<Page['getByLabel']>): { textContent(): Promise<string> } {
  return {
    async textContent(): Promise<string> {
      const ids = ((await control.getAttribute('aria-describedby')) ?? '').split(/\s+/).filter(Boolean);
      const texts = await Promise.all(ids.map((id) => page.locator(`[id="${id}"]`).textContent()));
      return texts.join(' ');
    },
  };
}

async function expectText(target: { textContent(): Promise<string | null> }, expected: RegExp | string, timeoutMs = 15_000): Promise<void> {
  let last: string | null = null;
  await waitFor(
    async () => {
      last = await target.textContent().catch(() => null);
      return last !== null && (typeof expected === 'string' ? last.includes(expected) : expected.test(last));
    },
    `text ${String(expected)}`,
    timeoutMs,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last text: ${JSON.stringify(last)}`);
  });
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
