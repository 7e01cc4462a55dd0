/**
 * The tasklane sample: a small host application with its own services (a user repository, a CRM
 * client, a mailer) injected into its tasks, and a plugin loaded from the repository's plugins/.
 *
 *   npm start           (= npm run build && node dist/sample-app/main.js)
 *
 * It shows, in one run of about ten seconds:
 * - trigger + progress + continue(): `crm.import-users` imports page by page over several iterations;
 * - a plugin: `csv.import` (plugins/csv-import) imports ./data/users.csv, generated here, in batches;
 * - after: `users.report` waits for the CSV import to end;
 * - parent/child: `mail.welcome-campaign` (after the CRM import) fans out `mail.send-welcome-batch`
 *   child runs and waits for them with continue({ delay });
 * - abort: `users.export` would take 20 s; the app aborts it after 1.5 s;
 * - delay: `mail.reminder` is triggered with a 2.5 s delay;
 * - a schedule: `app.heartbeat` runs every two seconds while the app runs;
 * - a failure: `csv.import` of a file that does not exist ends `failed` with CSV_FILE_NOT_FOUND;
 * - task locals: `crm.import-users` adds what it imported to its definition's locals, which outlive
 *   the run (and the app: run it twice on the same ./data and the totals grow).
 * Then it prints a summary table of the runs and stops the engine gracefully. With `--serve` (what
 * `npm start` runs), the engine keeps running instead and the management server starts on a
 * local port with a token it prints, with how to query it with curl and the CLI (see serve.ts),
 * until Ctrl-C.
 *
 * Storage: SQLite in ./data/tasks.db; with TASKLANE_SAMPLE_PG_URL set, PostgreSQL (storage and
 * distribution). Engine logs (winston, JSON) go to ./data/tasklane.log.
 */
import 'reflect-metadata';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { createLogger, format, transports } from 'winston';
import { TaskEngine, TaskService, type TaskRun } from '../src';
import { ProgressView } from './console/progress-view';
import { summaryTable } from './console/summary-table';
import { buildHostContainer, PLUGINS, sampleAdapters } from './host-container';
import { serveSample } from './serve';
import { HeartbeatMonitor } from './services/heartbeat-monitor';
import { Mailer } from './services/mailer';
import { UserRepository } from './services/user-repository';
import { ExportUsersTask, ImportCrmUsersTask, ReminderTask, UsersReportTask, WelcomeCampaignTask, type ImportTotals } from './tasks';

/** ./data, from the working directory */
const DATA = resolve('data');
const CSV_ROWS = 3000;
/** keep the engine up and serve the management API after the tour (npm start) */
const SERVE = process.argv.includes('--serve');
const MIN_HEARTBEATS = 3;

/** a CSV of users with the hard parts: quoted names with commas and quotes, multi-line notes, non-ASCII */
async function writeUsersCsv(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  const quote = (s: string) => `"${s.replace(/"/g, '""')}"`;
  const cities = ['Zürich', 'São Paulo', 'Kraków', 'Lyon', 'Osaka'];
  out.write('id,name,email,city,note\n');
  for (let i = 1; i <= rows; i++) {
    const name = i % 4 === 0 ? quote(`Martin, "Max" ${i}`) : `User ${i}`;
    const note = i % 10 === 0 ? quote(`prefers e-mail\nsecond line, "quoted"`) : '';
    out.write(`${i},${name},user${i}@${i % 3 === 0 ? 'example.org' : 'example.com'},${cities[i % cities.length]},${note}\n`);
  }
  await new Promise<void>((resolveEnd, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolveEnd())));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function main(): Promise<number> {
  mkdirSync(DATA, { recursive: true });
  const logFile = join(DATA, 'tasklane.log');
  const logger = createLogger({
    level: 'info',
    format: format.combine(format.timestamp(), format.json()),
    transports: [new transports.File({ filename: logFile })],
  });

  const adapters = sampleAdapters(DATA);
  const { container, plugins } = await buildHostContainer({ ...adapters.options, logger, concurrency: 8 });

  const service = container.get(TaskService);
  const engine = container.get(TaskEngine);
  const view = new ProgressView(service);
  const rel = (p: string) => relative(process.cwd(), p) || '.';

  view.log(`tasklane sample: storage ${adapters.label}, logs in ${rel(logFile)}`);
  for (const p of plugins.loaded) view.log(`plugin ${p.name} loaded: ${p.tasks.join(', ')}`);
  for (const f of plugins.failed) view.log(`plugin in ${f.folder} NOT loaded: ${f.error.message}`);
  if (!plugins.loaded.some((p) => p.tasks.includes('csv.import'))) throw new Error(`the csv-import plugin was not found in ${PLUGINS}`);

  const csvFile = join(DATA, 'users.csv');
  await writeUsersCsv(csvFile, CSV_ROWS);
  view.log(`generated ${rel(csvFile)} (${CSV_ROWS} users)`);
  view.log('');

  const onSigint = () => {
    view.stop();
    process.stdout.write('\ninterrupted: stopping the engine (running iterations may finish)...\n');
    void engine.stop({ graceful: true, timeout: 5000 }).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSigint);

  // npm start: the management server comes up with the engine (its metrics count the whole tour)
  const serving = SERVE ? await serveSample(container) : undefined;
  view.start();
  await engine.start();

  // a multi-iteration import (continue) with progress
  const crm = await service.trigger({ definition: ImportCrmUsersTask, input: { pageSize: 50, pagesPerIteration: 2 } });
  // the plugin's task, on the generated file, checkpointing every 3 batches
  const csv = await service.trigger({ definition: 'csv.import', input: { file: csvFile, batchSize: 200, batchesPerIteration: 3 } });
  // after: the report waits for the CSV import to end
  const report = await service.trigger({ definition: UsersReportTask, after: csv.id });
  // parent/child, after the CRM import
  const campaign = await service.trigger({ definition: WelcomeCampaignTask, input: { batches: 4 }, after: crm.id });
  // a long run, aborted below
  const exportRun = await service.trigger({ definition: ExportUsersTask, input: { steps: 200 } });
  // delay
  const reminder = await service.trigger({ definition: ReminderTask, input: { to: 'ops@example.com' }, delay: 2500 });
  // a run that fails: the file does not exist
  const missing = await service.trigger({ definition: 'csv.import', input: { file: join(DATA, 'missing.csv') }, name: 'missing file' });

  await sleep(1500);
  await service.abort({ id: exportRun.id, message: 'cancelled by the user' });

  const mine = [crm, csv, report, campaign, exportRun, reminder, missing];
  const ended = await Promise.all(mine.map((r) => service.wait(r.id, { timeout: 25_000 })));

  // the schedule: let the heartbeat beat a few times
  const monitor = container.get(HeartbeatMonitor);
  for (let waited = 0; monitor.beats.length < MIN_HEARTBEATS && waited < 10_000; waited += 100) await sleep(100);
  await sleep(200); // the last heartbeat's end reaches the view

  const runs = (await Promise.all(view.runIds.map((id) => service.get(id)))).filter((r): r is TaskRun => r !== null);
  const totals: ImportTotals = await service.locals(ImportCrmUsersTask);
  view.stop();
  process.removeListener('SIGINT', onSigint);
  if (!serving) await engine.stop({ graceful: true, timeout: 5000 });

  const color = view.live;
  const width = process.stdout.isTTY ? process.stdout.columns || 160 : 160;
  process.stdout.write(`\n${summaryTable(runs, { color, width })}\n\n`);
  const users = container.get(UserRepository);
  const mailer = container.get(Mailer);
  process.stdout.write(
    `users: ${users.count()} (${users.count('crm')} from the CRM, ${users.count('csv')} from the CSV); mails sent: ${mailer.outbox.length}; heartbeats: ${monitor.beats.length}\n`,
  );
  process.stdout.write(
    `task locals of crm.import-users (every run, every start of the app): ${totals.contacts ?? 0} contacts in ${totals.imports ?? 0} import(s)\n`,
  );

  const expected: Array<[TaskRun, TaskRun['status']]> = [
    [ended[0], 'success'],
    [ended[1], 'success'],
    [ended[2], 'success'],
    [ended[3], 'success'],
    [ended[4], 'aborted'],
    [ended[5], 'success'],
    [ended[6], 'failed'],
  ];
  const surprises = expected.filter(([run, status]) => run.status !== status);
  for (const [run, status] of surprises) process.stdout.write(`unexpected: ${run.definitionId} ${run.id} ended ${run.status}, expected ${status}\n`);
  if (serving) {
    process.stdout.write(`${serving.instructions}\n`);
    await new Promise<void>((resolveStop) => {
      process.once('SIGINT', () => resolveStop());
      process.once('SIGTERM', () => resolveStop());
    });
    process.stdout.write('stopping the management server and the engine...\n');
    await serving.server.close();
    await engine.stop({ graceful: true, timeout: 5000 });
  }
  await new Promise<void>((r) => {
    logger.on('finish', () => r());
    logger.end();
    setTimeout(r, 1000).unref();
  });
  return surprises.length === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
    // everything was stopped: the process ends by itself. If some handle kept it alive, say so.
    setTimeout(() => {
      process.stderr.write('sample-app: a handle kept the process alive 5 s after the engine stopped; exiting\n');
      process.exit(code);
    }, 5000).unref();
  },
  (err: unknown) => {
    if (process.stdout.isTTY) process.stdout.write('\x1b[?25h');
    process.stderr.write(`sample-app failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
