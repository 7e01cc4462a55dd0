import 'reflect-metadata';
import { createWriteStream, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { Container } from 'inversify';
import { createLogger, format, transports, type Logger } from 'winston';
import { TOKENS, loadPlugins, memoryStorage, registerTasks, sqliteStorage, type RunStorage, type TaskRun, type TasklanePlugin } from '../../src';
import { ALL_TEST_TASKS } from '../fixtures/tasks';
import { startHarness, type Harness } from '../helpers/engine-harness';
import { tempDir } from '../helpers/temp-files';
import {
  CSV_STATE_KEY,
  CountingCsvSink,
  CsvReader,
  CsvRecordSink,
  csvImportPlugin,
  csvRecord,
  type CsvBatch,
  type CsvImportState,
} from '../../plugins/csv-import';
import { runRetentionPlugin, type RunRetentionOutput } from '../../plugins/run-retention';

const SRC = resolve(__dirname, '../../src');
const INVERSIFY = require.resolve('inversify');
const PLUGINS = resolve(__dirname, '../../plugins');

const temps: Array<{ remove(): void }> = [];
function temp(): string {
  const t = tempDir('tasklane-plugins-');
  temps.push(t);
  return t.dir;
}

afterEach(async () => {
  while (temps.length) temps.pop()!.remove();
});

/** a winston logger whose lines are kept in `lines` */
function captureLogger(): { logger: Logger; lines: Array<{ level: string; message: string; [k: string]: unknown }> } {
  const lines: Array<{ level: string; message: string }> = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(JSON.parse(chunk.toString()) as { level: string; message: string });
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', format: format.json(), transports: [new transports.Stream({ stream })] });
  return { logger, lines };
}

function writePlugin(root: string, folder: string, files: Record<string, string>): void {
  const dir = join(root, folder);
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
}

/** a plugin written as plain CommonJS (no decorators), the way a compiled plugin ships */
function goodPluginSource(name: string, taskId: string, greeting: string): string {
  return `
const { ContainerModule } = require(${JSON.stringify(INVERSIFY)});
const { TaskDefinition, definePlugin } = require(${JSON.stringify(SRC)});
const GREETER = Symbol.for('test.greeter.${name}');
class Greet {
  constructor(greeter) { this.greeter = greeter; }
  async run({ controller }) { return controller.response.done(this.greeter.greet()); }
}
const task = TaskDefinition.createImplementation({ implementation: Greet, dependencies: [GREETER], meta: { id: ${JSON.stringify(taskId)}, title: 'Greets' } });
const module_ = new ContainerModule(({ bind }) => { bind(GREETER).toConstantValue({ greet: () => ${JSON.stringify(greeting)} }); });
exports.default = definePlugin({ name: ${JSON.stringify(name)}, module: module_, tasks: [task] });
`;
}

/** a logger that writes nothing (the default one prints JSON lines) */
function quiet(): Logger {
  return createLogger({ silent: true, transports: [new transports.Console()] });
}

async function runUntilDone(h: Harness, definition: string, input?: object): Promise<TaskRun> {
  const run = await h.service.trigger({ definition, ...(input ? { input } : {}) });
  return h.service.wait(run.id, { timeout: 20_000 });
}

describe('loadPlugins', () => {
  test('loads the good plugins, reports and logs the broken ones, and the host stays up', async () => {
    const root = temp();
    writePlugin(root, 'good', { 'index.js': goodPluginSource('good', 'good.greet', 'hello from good') });
    writePlugin(root, 'throws', { 'index.js': `throw new Error('boom at import');` });
    // values that cannot be turned into text: the report says so, it never throws (issue 8)
    writePlugin(root, 'throws-null-proto', { 'index.js': `throw Object.create(null);` });
    writePlugin(root, 'throws-proxy', {
      'index.js': `const boom = () => { throw new Error('trap'); }; throw new Proxy({}, { get: boom, getPrototypeOf: boom, ownKeys: boom, has: boom });`,
    });
    writePlugin(root, 'bad-shape', { 'index.js': `exports.default = { name: 'bad-shape', tasks: 'not an array' };` });
    writePlugin(root, 'not-a-task', { 'index.js': `class Plain { run() {} }\nexports.plugin = { name: 'not-a-task', tasks: [Plain] };` });
    writePlugin(root, 'no-export', { 'index.js': `exports.something = 1;` });
    writePlugin(root, 'dup-task', { 'index.js': goodPluginSource('dup-task', 'test.noop', 'clash') });
    writePlugin(root, 'zz-dup-name', { 'index.js': goodPluginSource('good', 'other.greet', 'same name') });
    writePlugin(root, 'bad-name', { 'index.js': goodPluginSource('Bad Name!', 'bad.greet', 'x') });
    writePlugin(root, '__proto__', { 'index.js': goodPluginSource('proto-folder', 'proto.greet', 'from __proto__') });
    writePlugin(root, 'constructor', { 'index.js': goodPluginSource('__proto__', 'proto2.greet', 'x') });
    writePlugin(root, 'empty', { 'README.md': 'no entry module here' });
    writePlugin(root, 'pkg-main', {
      'package.json': JSON.stringify({ name: 'pkg-main', main: 'lib/entry.js' }),
      'lib/entry.js': goodPluginSource('pkg-main', 'pkg.greet', 'from main'),
    });
    writePlugin(root, 'escape', { 'package.json': JSON.stringify({ main: '../good/index.js' }) });
    writeFileSync(join(root, 'loose-file.js'), 'throw new Error("a file at the root is not a plugin")');

    const { logger, lines } = captureLogger();
    const h = await startHarness({ storage: memoryStorage(), tasks: ALL_TEST_TASKS, logger });
    try {
      const report = await loadPlugins(h.container, root);

      expect(report.loaded.map((p) => p.name).sort()).toEqual(['good', 'pkg-main', 'proto-folder']);
      expect(report.loaded.find((p) => p.name === 'good')).toMatchObject({ folder: join(root, 'good'), tasks: ['good.greet'], faults: [] });

      const failed = new Map(report.failed.map((f) => [f.folder.slice(root.length + 1), f]));
      expect([...failed.keys()].sort()).toEqual([
        'bad-name',
        'bad-shape',
        'constructor',
        'dup-task',
        'empty',
        'escape',
        'no-export',
        'not-a-task',
        'throws',
        'throws-null-proto',
        'throws-proxy',
        'zz-dup-name',
      ]);
      expect(failed.get('throws-null-proto')!.error.message).toMatch(/failed to import: \[a null-prototype object\]/);
      // (the module loader may read the thrown Proxy itself, and rethrow what its trap throws)
      expect(failed.get('throws-proxy')!.error.message).toMatch(/failed to import: (\[a Proxy\]|trap)$/);
      for (const f of report.failed) {
        expect(f.error.code).toBe('PLUGIN_INVALID');
        expect(f.error.name).toBe('PluginError');
      }
      expect(failed.get('throws')!.error.message).toMatch(/failed to import: boom at import/);
      expect((failed.get('throws')!.error.cause as Error).message).toBe('boom at import');
      expect(failed.get('bad-shape')!.error.message).toMatch(/"tasks" must be an array/);
      expect(failed.get('not-a-task')!.error.message).toMatch(/is not a task/);
      expect(failed.get('no-export')!.error.message).toMatch(/neither a default export nor a named export "plugin"/);
      expect(failed.get('dup-task')!.error.message).toMatch(/duplicate task id "test.noop"/);
      expect(failed.get('zz-dup-name')!.error.message).toMatch(/a plugin named "good" is already loaded/);
      expect(failed.get('bad-name')!.error.message).toMatch(/invalid plugin name/);
      expect(failed.get('constructor')!.error.message).toMatch(/invalid plugin name "__proto__"/);
      expect(failed.get('empty')!.error.message).toMatch(/no entry module/);
      expect(failed.get('escape')!.error.message).toMatch(/points outside its folder/);
      expect(Object.prototype).not.toHaveProperty('greet');
      expect(({} as Record<string, unknown>).name).toBeUndefined();

      // every failure was logged through the container's logger, with its folder
      const errors = lines.filter((l) => l.level === 'error' && /plugin/.test(l.message));
      expect(errors).toHaveLength(report.failed.length);
      expect(errors.map((l) => l.folder).sort()).toEqual([...failed.keys()].sort());
      expect(lines.some((l) => l.level === 'info' && /plugin "good" loaded/.test(l.message))).toBe(true);

      // the failed plugins left nothing registered
      const ids = (await h.service.listDefinitions({ includePrivate: true })).map((d) => d.id);
      expect(ids).toEqual(expect.arrayContaining(['good.greet', 'pkg.greet', 'proto.greet', 'test.noop']));
      expect(ids).not.toContain('other.greet');
      expect(ids).not.toContain('bad.greet');
      expect(ids).not.toContain('proto2.greet');

      // the host is up: its own tasks and the plugins' tasks run, with the plugins' services injected
      expect((await runUntilDone(h, 'good.greet')).output).toBe('hello from good');
      expect((await runUntilDone(h, 'pkg.greet')).output).toBe('from main');
      expect((await runUntilDone(h, 'proto.greet')).output).toBe('from __proto__');
      expect((await runUntilDone(h, 'test.noop')).status).toBe('success');

      // loading the same folder again: every plugin name is taken now
      const again = await loadPlugins(h.container, root);
      expect(again.loaded).toEqual([]);
      expect(again.failed.find((f) => f.name === 'good')!.error.message).toMatch(/already loaded/);
    } finally {
      await h.stop();
    }
  });

  test('`only` selects plugins by name or folder; unselected broken folders are skipped, not failed', async () => {
    const root = temp();
    writePlugin(root, 'alpha', { 'index.js': goodPluginSource('alpha', 'alpha.greet', 'a') });
    writePlugin(root, 'beta-folder', { 'index.js': goodPluginSource('beta', 'beta.greet', 'b') });
    const marker = join(root, 'broken-was-imported');
    writePlugin(root, 'broken', { 'index.js': `require('fs').writeFileSync(${JSON.stringify(marker)}, '1'); throw new Error('never selected')` });
    const { logger } = captureLogger();
    const h = await startHarness({ storage: memoryStorage(), tasks: [], logger });
    try {
      const report = await loadPlugins(h.container, root, { only: ['alpha', 'beta'] });
      expect(report.loaded.map((p) => p.name)).toEqual(['alpha', 'beta']);
      expect(report.failed).toEqual([]);
      expect(report.skipped).toEqual([join(root, 'broken')]);

      // every name in `only` is a folder: nothing else is even imported
      rmSync(marker, { force: true });
      const byFolder = await loadPlugins(h.container, root, { only: ['alpha'] });
      expect(byFolder.failed.map((f) => f.error.message)).toEqual([expect.stringMatching(/already loaded/)]);
      expect(byFolder.skipped).toEqual([join(root, 'beta-folder'), join(root, 'broken')]);
      expect(existsSync(marker)).toBe(false);
    } finally {
      await h.stop();
    }
  });

  test('a ContainerModule that throws fails its plugin and leaves no binding behind; concurrent loads never load a name twice', async () => {
    const root = temp();
    writePlugin(root, 'module-throws', {
      'index.js': `
const { ContainerModule } = require(${JSON.stringify(INVERSIFY)});
const { TaskDefinition } = require(${JSON.stringify(SRC)});
class T { run({ controller }) { return controller.response.done(); } }
exports.plugin = {
  name: 'module-throws',
  module: new ContainerModule(async ({ bind }) => { bind('half.bound').toConstantValue(1); throw new Error('cannot bind'); }),
  tasks: [TaskDefinition.createImplementation({ implementation: T, meta: { id: 'mt.task', title: 'T' } })],
};`,
    });
    writePlugin(root, 'ok', { 'index.js': goodPluginSource('ok', 'ok.greet', 'ok') });
    const { logger } = captureLogger();
    const h = await startHarness({ storage: memoryStorage(), tasks: [], logger });
    try {
      const [a, b] = await Promise.all([loadPlugins(h.container, root), loadPlugins(h.container, root)]);
      expect([...a.loaded, ...b.loaded].map((p) => p.name)).toEqual(['ok']);
      const failures = [...a.failed, ...b.failed];
      expect(failures.filter((f) => f.name === 'module-throws')).toHaveLength(2);
      expect(failures.find((f) => f.name === 'module-throws' && /ContainerModule failed to load: cannot bind/.test(f.error.message))).toBeDefined();
      expect(failures.filter((f) => f.name === 'ok').map((f) => f.error.message)).toEqual([expect.stringMatching(/already loaded/)]);
      expect(h.container.isBound('half.bound')).toBe(false);
      expect((await h.service.listDefinitions()).map((d) => d.id)).toEqual(['ok.greet']);
    } finally {
      await h.stop();
    }
  });

  test("a missing folder, or a container without tasklane, is the host's error and throws", async () => {
    const h = await startHarness({ storage: memoryStorage(), tasks: [], logger: quiet() });
    try {
      await expect(loadPlugins(h.container, join(temp(), 'nope'))).rejects.toMatchObject({ code: 'PLUGIN_INVALID' });
    } finally {
      await h.stop();
    }
    await expect(loadPlugins(new Container(), PLUGINS)).rejects.toMatchObject({ code: 'ENGINE_STATE' });
  });

  test('the repository plugins load from plugins/', async () => {
    const { logger } = captureLogger();
    const h = await startHarness({ storage: memoryStorage(), tasks: [], logger });
    try {
      const report = await loadPlugins(h.container, PLUGINS);
      expect(report.failed).toEqual([]);
      expect(report.loaded.map((p) => [p.name, p.tasks])).toEqual([
        ['csv-import', ['csv.import']],
        ['run-retention', ['tasklane.retention']],
      ]);
      const defs = await h.service.listDefinitions();
      const retention = defs.find((d) => d.id === 'tasklane.retention')!;
      expect(retention).toMatchObject({ isPrivate: false, state: 'enabled', schedule: { cron: '0 */10 * * * *' } });
      // the plugin bound its default sink because the host bound none
      expect(h.container.get(CsvRecordSink)).toBeInstanceOf(CountingCsvSink);
    } finally {
      await h.stop();
    }
  });
});

// ------------------------------------------------------------------------------------ retention

describe('run-retention plugin', () => {
  async function loadRetention(h: Harness, plugin: TasklanePlugin): Promise<void> {
    await h.container.load(plugin.module!);
    registerTasks(h.container, plugin.tasks);
  }

  test.each([
    ['memory', () => memoryStorage()],
    ['sqlite', (dir: string) => sqliteStorage({ file: join(dir, 'tasks.db') })],
  ])(
    'deletes finished runs and their logs and values older than maxAgeMs, in batches; pending and running runs are untouched (%s)',
    async (_name, makeStorage) => {
      const clock = { offset: 0, now: () => Date.now() + clock.offset };
      const h = await startHarness({ storage: makeStorage(temp()), tasks: ALL_TEST_TASKS, clock, logger: quiet() });
      try {
        await loadRetention(h, runRetentionPlugin({ batchSize: 7, maxBatchesPerIteration: 2 }));
        const storage = h.container.get<RunStorage>(TOKENS.Storage);

        // old finished runs: success (with logs and store values), failed, aborted
        const old: TaskRun[] = [];
        for (let i = 0; i < 25; i++) old.push(await h.service.trigger({ definition: 'test.count', input: { count: 2 } }));
        for (let i = 0; i < 4; i++) old.push(await h.service.trigger({ definition: 'test.noop' }));
        old.push(await h.service.trigger({ definition: 'test.fail', input: { message: 'old failure' } }));
        const toAbort = await h.service.trigger({ definition: 'test.sleep', input: { ms: 0 }, delay: 60_000 });
        await h.service.abort({ id: toAbort.id });
        old.push(toAbort);
        await Promise.all(old.map((r) => h.service.wait(r.id, { timeout: 10_000 })));
        expect((await h.service.listLogs({ runId: old[0].id })).items.length).toBeGreaterThan(0);
        expect(await storage.getValue(old[0].id, 'last')).toBe(2);

        // eight days later
        clock.offset = 8 * 24 * 3600_000;
        const pending = await h.service.trigger({ definition: 'test.sleep', input: { ms: 0 }, delay: 3600_000 });
        const running = await h.service.trigger({ definition: 'test.sleep', input: { ms: 60_000 } });
        for (let i = 0; i < 100 && (await h.service.get(running.id))!.status !== 'running'; i++) await new Promise((r) => setTimeout(r, 20));
        expect((await h.service.get(running.id))!.status).toBe('running');
        const recent = await runUntilDone(h, 'test.noop');

        const retention = await runUntilDone(h, 'tasklane.retention');
        expect(retention.status).toBe('success');
        const output = retention.output as RunRetentionOutput;
        expect(output.deleted).toBe(old.length);
        expect(output.batches).toBe(Math.floor(old.length / 7) + 1);
        expect(retention.iterations).toBe(Math.ceil(output.batches / 2));
        expect(Date.parse(output.before)).toBeLessThan(Date.parse(recent.finishedOn!));

        for (const r of old) {
          expect(await h.service.get(r.id)).toBeNull();
          expect((await h.service.listLogs({ runId: r.id })).items).toEqual([]);
          expect(await storage.getValue(r.id, 'last')).toBeUndefined();
        }
        expect((await h.service.get(pending.id))!.status).toBe('pending');
        expect((await h.service.get(running.id))!.status).toBe('running');
        expect((await h.service.get(recent.id))!.status).toBe('success');
        const logs = (await h.service.listLogs({ runId: retention.id })).items.map((l) => l.message);
        expect(logs.some((m) => m.includes(`deleted ${old.length} finished run(s)`))).toBe(true);

        // a second pass finds nothing more
        const again = await runUntilDone(h, 'tasklane.retention');
        expect((again.output as RunRetentionOutput).deleted).toBe(0);
        await h.service.abort({ id: running.id });
      } finally {
        await h.stop();
      }
    },
  );

  test('a manual trigger may override maxAgeMs; it runs on its schedule', async () => {
    const h = await startHarness({ storage: memoryStorage(), tasks: ALL_TEST_TASKS, logger: quiet() });
    try {
      // scheduled runs use the default age (7 days): they delete nothing here; the manual one says 0
      await loadRetention(h, runRetentionPlugin({ cron: '* * * * * *' }));
      const done = await Promise.all([runUntilDone(h, 'test.noop'), runUntilDone(h, 'test.noop')]);
      await new Promise((r) => setTimeout(r, 5));
      const manual = await runUntilDone(h, 'tasklane.retention', { maxAgeMs: 0 });
      expect((manual.output as RunRetentionOutput).deleted).toBeGreaterThanOrEqual(2);
      for (const r of done) expect(await h.service.get(r.id)).toBeNull();

      // the schedule fires within two seconds
      const deadline = Date.now() + 4000;
      let scheduled: TaskRun | undefined;
      while (!scheduled && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        scheduled = (await h.service.listRuns({ definition: 'tasklane.retention' })).items.find((r) => r.scheduledFor !== undefined);
      }
      expect(scheduled).toBeDefined();
      await h.service.wait(scheduled!.id, { timeout: 5000 });
    } finally {
      await h.stop();
    }
  });

  test('bad options are refused when the plugin is configured; a malformed cron puts the task in fault', async () => {
    expect(() => runRetentionPlugin({ batchSize: 0 })).toThrow(/batchSize/);
    expect(() => runRetentionPlugin({ maxAgeMs: -1 })).toThrow(/maxAgeMs/);
    const h = await startHarness({ storage: memoryStorage(), tasks: [], logger: quiet() });
    try {
      await loadRetention(h, runRetentionPlugin({ cron: 'not a cron' }));
      const def = (await h.service.listDefinitions()).find((d) => d.id === 'tasklane.retention')!;
      expect(def.state).toBe('fault');
    } finally {
      await h.stop();
    }
  });
});

// ------------------------------------------------------------------------------------ csv import

const ROWS = 20_000;

/** id,name,note,email,amount: names with delimiters and quotes, notes with line breaks, non-ASCII text */
async function writeCsv(file: string, rows = ROWS): Promise<number> {
  const out = createWriteStream(file);
  const q = (s: string) => `"${s.replace(/"/g, '""')}"`;
  out.write('id,name,note,email,amount\r\n');
  for (let i = 1; i <= rows; i++) {
    const name = i % 3 === 0 ? q(`Doe, "Jo" ${i}`) : `User ${i}`;
    const note = i % 5 === 0 ? q(`line one\nline two, with "quotes"\r\nand ü ${i}`) : i % 7 === 0 ? '""' : `note ${i}`;
    out.write(`${i},${name},${note},user${i}@example.com,${(i * 1.5).toFixed(2)}\r\n`);
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  return rows;
}

function expectedRow(i: number): Record<string, string> {
  return {
    id: String(i),
    name: i % 3 === 0 ? `Doe, "Jo" ${i}` : `User ${i}`,
    note: i % 5 === 0 ? `line one\nline two, with "quotes"\r\nand ü ${i}` : i % 7 === 0 ? '' : `note ${i}`,
    email: `user${i}@example.com`,
    amount: (i * 1.5).toFixed(2),
  };
}

/** a host sink that records every row id it was handed (and how often) */
class RecordingSink implements CsvRecordSink {
  readonly seen = new Map<string, number>();
  readonly samples = new Map<string, Record<string, string>>();
  batches = 0;
  firstRows: number[] = [];
  constructor(private readonly delayMs = 0) {}
  async write(batch: CsvBatch): Promise<void> {
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    this.batches++;
    this.firstRows.push(batch.firstRow);
    batch.rows.forEach((row, k) => {
      const rec = csvRecord(batch.header, row);
      expect(Number(rec.id)).toBe(batch.firstRow + k);
      this.seen.set(rec.id, (this.seen.get(rec.id) ?? 0) + 1);
      if (Number(rec.id) % 1000 === 0 || rec.id === '5' || rec.id === '21') this.samples.set(rec.id, { ...rec });
    });
  }
}

async function csvHarness(storage: RunStorage, sink: CsvRecordSink, plugin: TasklanePlugin): Promise<Harness> {
  const h = await startHarness({ storage, tasks: [], logger: quiet() });
  h.container.bind(CsvRecordSink).toConstantValue(sink);
  await h.container.load(plugin.module!);
  registerTasks(h.container, plugin.tasks);
  return h;
}

function expectEveryRowOnce(sink: RecordingSink, rows = ROWS): void {
  expect(sink.seen.size).toBe(rows);
  for (let i = 1; i <= rows; i++) expect(sink.seen.get(String(i))).toBe(1);
  for (const [id, rec] of sink.samples) expect(rec).toEqual(expectedRow(Number(id)));
}

describe('csv-import plugin', () => {
  test.each([
    ['memory', () => memoryStorage()],
    ['sqlite', (dir: string) => sqliteStorage({ file: join(dir, 'tasks.db') })],
  ])('imports 20,000 rows with quoted fields across several iterations, each row exactly once (%s)', async (_name, makeStorage) => {
    const dir = temp();
    const file = join(dir, 'big.csv');
    await writeCsv(file);
    const sink = new RecordingSink(2);
    // a short iteration: isCloseToTimeout() ends each iteration with continue()
    const h = await csvHarness(makeStorage(dir), sink, csvImportPlugin({ iterationTimeout: 250 }));
    try {
      const progress: number[] = [];
      h.service.on('progress', ({ run, progress: p }) => {
        if (run.definitionId === 'csv.import' && p.total) progress.push(p.current! / p.total);
      });
      const run = await h.service.trigger({ definition: 'csv.import', input: { file, batchSize: 300 } });
      const ended = await h.service.wait(run.id, { timeout: 60_000 });
      expect(ended.error).toBeUndefined();
      expect(ended.status).toBe('success');
      expect(ended.output).toEqual({ rows: ROWS, file, bytes: expect.any(Number) });
      expect(ended.iterations).toBeGreaterThan(1);
      expect(ended.progress).toMatchObject({ current: (ended.output as { bytes: number }).bytes, total: (ended.output as { bytes: number }).bytes });
      expect(progress[progress.length - 1]).toBe(1);
      for (let i = 1; i < progress.length; i++) expect(progress[i]).toBeGreaterThanOrEqual(progress[i - 1]);
      expectEveryRowOnce(sink);
      const state = await h.container.get<RunStorage>(TOKENS.Storage).getValue(run.id, CSV_STATE_KEY);
      expect(state).toMatchObject({ rows: ROWS, header: ['id', 'name', 'note', 'email', 'amount'] });
    } finally {
      await h.stop();
    }
  });

  test("batchesPerIteration in the input checkpoints every N batches (the folder's default plugin)", async () => {
    const dir = temp();
    const file = join(dir, 'big.csv');
    await writeCsv(file);
    const sink = new RecordingSink();
    const h = await startHarness({ storage: memoryStorage(), tasks: [], logger: quiet() });
    try {
      h.container.bind(CsvRecordSink).toConstantValue(sink);
      const report = await loadPlugins(h.container, PLUGINS, { only: ['csv-import'] });
      expect(report.loaded.map((p) => p.name)).toEqual(['csv-import']);
      const run = await runUntilDone(h, 'csv.import', { file, batchSize: 1000, batchesPerIteration: 4 });
      expect(run.status).toBe('success');
      expect(run.iterations).toBe(5);
      expectEveryRowOnce(sink);
    } finally {
      await h.stop();
    }
  });

  test('an abort in the middle ends the run aborted, the store holding the offset of the last batch written', async () => {
    const dir = temp();
    const file = join(dir, 'big.csv');
    await writeCsv(file);
    const sink = new RecordingSink(5);
    const h = await csvHarness(memoryStorage(), sink, csvImportPlugin({ batchesPerIteration: 3 }));
    try {
      const run = await h.service.trigger({ definition: 'csv.import', input: { file, batchSize: 200 } });
      await new Promise<void>((resolve) => {
        const off = h.service.on('progress', ({ run: r, progress }) => {
          if (r.id === run.id && progress.current! / progress.total! > 0.25) {
            off();
            resolve();
          }
        });
      });
      await h.service.abort({ id: run.id, message: 'enough' });
      const ended = await h.service.wait(run.id, { timeout: 10_000 });
      expect(ended.status).toBe('aborted');

      const state = (await h.container.get<RunStorage>(TOKENS.Storage).getValue(run.id, CSV_STATE_KEY)) as CsvImportState;
      expect(state.rows).toBeGreaterThan(0);
      expect(state.rows).toBeLessThan(ROWS);
      expect(state.rows).toBe(sink.seen.size);
      expect(state.offset).toBeGreaterThan(0);
      // the offset is the boundary of the first row not handed over
      const reader = new CsvReader(file, state.offset);
      const next = await reader.read(1);
      reader.close();
      expect(next.records[0][0]).toBe(String(state.rows + 1));
      for (let i = 1; i <= state.rows; i++) expect(sink.seen.get(String(i))).toBe(1);
      const logs = (await h.service.listLogs({ runId: run.id })).items.map((l) => l.message);
      // the abort is in the run's logs, with its message; when it came between two batches the task
      // also logged where it stopped (when it came while the run was between iterations, the engine
      // ended the run without calling run() again)
      expect(logs.some((m) => m.includes('enough'))).toBe(true);
      if (logs.some((m) => m.startsWith('aborted after'))) expect(logs).toContain(`aborted after ${state.rows} rows, at byte ${state.offset} of ${state.size}`);
    } finally {
      await h.stop();
    }
  });

  test('a missing file fails the run with CSV_FILE_NOT_FOUND; a malformed file with CSV_MALFORMED; bad input is refused', async () => {
    const dir = temp();
    const h = await csvHarness(memoryStorage(), new CountingCsvSink(), csvImportPlugin());
    try {
      const missing = await runUntilDone(h, 'csv.import', { file: join(dir, 'nope.csv') });
      expect(missing.status).toBe('failed');
      expect(missing.error).toMatchObject({ code: 'CSV_FILE_NOT_FOUND' });
      expect(missing.error!.message).toContain('nope.csv');

      const bad = join(dir, 'bad.csv');
      writeFileSync(bad, 'a,b\n1,"unterminated\n2,3\n');
      const malformed = await runUntilDone(h, 'csv.import', { file: bad });
      expect(malformed.error).toMatchObject({ code: 'CSV_MALFORMED' });

      const folder = await runUntilDone(h, 'csv.import', { file: dir });
      expect(folder.error).toMatchObject({ code: 'CSV_NOT_A_FILE' });

      await expect(h.service.trigger({ definition: 'csv.import', input: { file: bad, delimiter: '"' } })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
      await expect(h.service.trigger({ definition: 'csv.import', input: { file: bad, batchSize: 0 } })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
      await expect(h.service.trigger({ definition: 'csv.import', input: {} })).rejects.toMatchObject({ code: 'INPUT_INVALID' });
    } finally {
      await h.stop();
    }
  });

  test('another delimiter, a BOM, blank lines and an empty file; the default counting sink', async () => {
    const dir = temp();
    const h = await startHarness({ storage: memoryStorage(), tasks: [], logger: quiet() });
    try {
      const plugin = csvImportPlugin({ root: dir });
      await h.container.load(plugin.module!);
      registerTasks(h.container, plugin.tasks);
      const sink = h.container.get(CsvRecordSink) as CountingCsvSink;
      expect(sink).toBeInstanceOf(CountingCsvSink);

      writeFileSync(join(dir, 'semi.csv'), '\ufeffa;b\n\n1;"x;y"\n\n2;"z"\n');
      const semi = await runUntilDone(h, 'csv.import', { file: 'semi.csv', delimiter: ';', batchSize: 1 });
      expect(semi.output).toMatchObject({ rows: 2 });
      expect(sink.rowsByRun.get(semi.id)).toBe(2);

      writeFileSync(join(dir, 'empty.csv'), '');
      const empty = await runUntilDone(h, 'csv.import', { file: 'empty.csv' });
      expect(empty.output).toMatchObject({ rows: 0, bytes: 0 });

      const outside = await runUntilDone(h, 'csv.import', { file: '../etc/passwd' });
      expect(outside.error).toMatchObject({ code: 'CSV_FILE_OUTSIDE_ROOT' });
    } finally {
      await h.stop();
    }
  });
});
