import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { compiled } from '../helpers/child-build';
import { tempDir } from '../helpers/temp-files';

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

function runSample(
  cwd: string,
  options: { args?: string[]; env?: NodeJS.ProcessEnv; onStdout?: (stdout: string, child: ChildProcess) => void } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolveRun, reject) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env };
    delete env.TASKLANE_SAMPLE_PG_URL;
    // the app compiled, as `npm start` runs it from dist/ (test/helpers/child-build.ts)
    const child = spawn(process.execPath, [compiled('sample-app/main.ts'), ...(options.args ?? [])], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      options.onStdout?.(stdout, child);
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 200_000); // generous: a busy machine
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
    const { code, signal, stdout, stderr } = await runSample(tmp.dir);
    if (code !== 0) console.error(`sample-app stdout:\n${stdout}\nstderr:\n${stderr}`);
    // it ended by itself (no kill signal), and no handle kept it alive after the engine stopped
    expect(signal).toBeNull();
    expect(code).toBe(0);
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
}, 300_000);

test('with --serve (npm start) it keeps the engine up and serves the dashboard and the management API; the printed address, token, curl and CLI instructions work', async () => {
  const tmp = tempDir('tasklane-sample-serve-');
  const token = 'sample-test-token-0123456789';
  let checked: Promise<void> | undefined;
  const failures: unknown[] = [];
  try {
    const { code, stdout, stderr } = await runSample(tmp.dir, {
      args: ['--serve'],
      env: { TASKLANE_SAMPLE_PORT: '0', TASKLANE_SAMPLE_TOKEN: token },
      onStdout: (out, child) => {
        const m = /\nDashboard: +(http:\/\/127\.0\.0\.1:\d+)\/\nToken: +(\S+) /.exec(out);
        if (!m || checked || !out.includes('Ctrl-C')) return;
        checked = (async () => {
          const [, url, printed] = m;
          expect(printed).toBe(token);
          // the printout leads with the dashboard and the token, then the API, curl and the CLI
          const block = out.slice(m.index);
          expect(block.indexOf(`Management API:  ${url}/graphql`)).toBeGreaterThan(0);
          expect(block.indexOf('curl')).toBeGreaterThan(block.indexOf('Management API:'));
          expect(out).not.toContain('once built');
          // the printed address serves the dashboard's page (built by npm start / npm ci's prepare)
          const page = await fetch(`${url}/`);
          expect({ status: page.status, type: page.headers.get('content-type') }).toEqual({ status: 200, type: 'text/html; charset=utf-8' });
          expect(await page.text()).toContain('<title>tasklane</title>');
          // the printed curl command's query, as curl would send it
          const query = /-d '(\{.*\})'/.exec(out)![1];
          const res = await fetch(`${url}/graphql`, {
            method: 'POST',
            headers: { authorization: `Bearer ${printed}`, 'content-type': 'application/json' },
            body: query,
          });
          expect(res.status).toBe(200);
          const body = (await res.json()) as { data: { backgroundTasks: { listTasks: { items: unknown[] } } } };
          expect(body.data.backgroundTasks.listTasks.items.length).toBeGreaterThan(0);
          // the CLI, as printed (compiled, as the package's bin runs it)
          const cli = spawnSync(process.execPath, [compiled('src/cli/main.ts'), 'runs', '--limit', '3', '--json'], {
            env: { ...process.env, TASKLANE_URL: url, TASKLANE_TOKEN: printed },
            encoding: 'utf8',
            timeout: 120_000,
          });
          expect(cli.status).toBe(0);
          expect((JSON.parse(cli.stdout) as unknown[]).length).toBe(3);
          const metrics = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${printed}` } });
          expect(await metrics.text()).toMatch(/^tasklane_runs_total\{/m);
        })()
          .catch((err: unknown) => void failures.push(err))
          .finally(() => child.kill('SIGINT'));
      },
    });
    await checked;
    if (failures.length) throw failures[0];
    if (code !== 0) console.error(`sample-app stdout:\n${stdout}\nstderr:\n${stderr}`);
    expect(checked).toBeDefined();
    expect(code).toBe(0);
    expect(stdout).toContain('stopping the management server and the engine');
  } finally {
    tmp.remove();
  }
}, 300_000);
