import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from '../helpers/temp-files';

const ROOT = resolve(__dirname, '../..');

interface Row {
  id: string;
  definition: string;
  child: boolean;
  status: string;
  iterations: number;
  result: string;
}

/** the summary table's rows: id, definition, status, iter, duration, output / error */
function parseSummary(stdout: string): Row[] {
  const rows: Row[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^([0-9a-z]{26})\s{2}(\s*(?:└ )?)(\S+)\s+(pending|running|success|failed|aborted)\s+(\d+)\s+(\S+)\s*(.*)$/.exec(line);
    if (m) rows.push({ id: m[1], definition: m[3], child: m[2].includes('└'), status: m[4], iterations: Number(m[5]), result: m[7] });
  }
  return rows;
}

function runSample(cwd: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TS_NODE_PROJECT: join(ROOT, 'tsconfig.json'), TS_NODE_TRANSPILE_ONLY: 'true' };
    delete env.TASKLANE_SAMPLE_PG_URL;
    const child = spawn(process.execPath, ['-r', require.resolve('ts-node/register/transpile-only'), join(ROOT, 'sample-app/main.ts')], {
      cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 55_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code, signal, stdout, stderr });
    });
  });
}

test('the sample app runs to the end on SQLite under ./data, exits 0 by itself and prints its summary', async () => {
  const tmp = tempDir('tasklane-sample-');
  try {
    const started = Date.now();
    const { code, signal, stdout, stderr } = await runSample(tmp.dir);
    const elapsed = Date.now() - started;
    if (code !== 0) console.error(`sample-app stdout:\n${stdout}\nstderr:\n${stderr}`);
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(elapsed).toBeLessThan(45_000);
    expect(stderr).not.toMatch(/kept the process alive/);

    // not a terminal: plain lines, no ANSI escapes
    expect(stdout).not.toContain('\x1b[');
    expect(stdout).toMatch(/plugin csv-import loaded: csv\.import/);
    expect(stdout).toMatch(/users\.export\s+aborted/); // a plain progress line

    const rows = parseSummary(stdout);
    const of = (definition: string) => rows.filter((r) => r.definition === definition);
    const one = (definition: string, status: string) => {
      const found = of(definition).filter((r) => r.status === status);
      expect(found.length).toBeGreaterThanOrEqual(1);
      return found[0];
    };

    expect(one('crm.import-users', 'success').iterations).toBeGreaterThan(1); // continue()
    const csv = one('csv.import', 'success'); // the plugin, on the generated CSV
    expect(csv.iterations).toBeGreaterThan(1);
    expect(csv.result).toContain('"rows":3000');
    expect(one('csv.import', 'failed').result).toContain('CSV_FILE_NOT_FOUND');
    expect(one('users.report', 'success').result).toContain('"fromCsv":3000'); // after: the CSV import
    expect(one('mail.welcome-campaign', 'success').result).toContain('"children":4');
    const children = of('mail.send-welcome-batch');
    expect(children).toHaveLength(4); // parent/child
    for (const c of children) expect(c).toMatchObject({ child: true, status: 'success' });
    expect(one('users.export', 'aborted').result).toContain('cancelled by the user');
    expect(one('mail.reminder', 'success').result).toContain('ops@example.com'); // delay
    expect(of('app.heartbeat').filter((r) => r.status === 'success').length).toBeGreaterThanOrEqual(3); // schedule

    // task locals: what the CRM import processed, kept with its definition (a fresh ./data: one import of 600)
    expect(stdout).toMatch(/task locals of crm\.import-users \(every run, every start of the app\): 600 contacts in 1 import\(s\)/);
    expect(rows.every((r) => r.status !== 'pending' && r.status !== 'running')).toBe(true);
    expect(stdout).toMatch(new RegExp(`${rows.length} runs: .*1 aborted.*|${rows.length} runs: .*1 failed.*`));

    expect(existsSync(join(tmp.dir, 'data', 'tasks.db'))).toBe(true);
    expect(existsSync(join(tmp.dir, 'data', 'users.csv'))).toBe(true);
    expect(existsSync(join(tmp.dir, 'data', 'tasklane.log'))).toBe(true);

    // a second start of the app on the same ./data: the locals outlived the first process
    const second = await runSample(tmp.dir);
    if (second.code !== 0) console.error(`sample-app (second start) stdout:\n${second.stdout}\nstderr:\n${second.stderr}`);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/task locals of crm\.import-users \(every run, every start of the app\): 1200 contacts in 2 import\(s\)/);
  } finally {
    tmp.remove();
  }
}, 120_000);
