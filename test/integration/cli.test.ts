/**
 * The BUILT `tasklane` CLI (the test build: test/helpers/child-build.ts), spawned against a
 * real management server on a free port: its output and every exit code of MANAGEMENT.md section 5.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { MEMORY } from '../reliability/storages';
import { startApi, TOKENS } from '../helpers/management-api';
import { compiled } from '../helpers/child-build';
import { tempDir } from '../helpers/temp-files';

const CLI = compiled('src/cli/main.ts');

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

let api: Awaited<ReturnType<typeof startApi>>;

function cli(args: string[], options: { token?: string | null; url?: string } = {}): Promise<Result> {
  const env: NodeJS.ProcessEnv = { ...process.env, TASKLANE_URL: options.url ?? api.url };
  delete env.TASKLANE_TOKEN;
  if (options.token !== null) env.TASKLANE_TOKEN = options.token ?? TOKENS.operator;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

beforeAll(async () => {
  api = await startApi(MEMORY);
}, 60_000);

afterAll(async () => {
  await api?.close();
});

// each test spawns the CLI several times: generous on a busy machine
jest.setTimeout(180_000);

describe('tasklane CLI', () => {
  it('definitions, stats and nodes: human tables and --json', async () => {
    const human = await cli(['definitions'], { token: TOKENS.viewer });
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/DEFINITION.*TITLE.*STATUS.*QUEUE/);
    expect(human.stdout).toMatch(/mgmt\.echo.*Echo.*idle/);
    expect(human.stdout).not.toContain('mgmt.private');
    const asJson = await cli(['--json', 'definitions'], { token: TOKENS.viewer });
    expect(asJson.code).toBe(0);
    const defs = JSON.parse(asJson.stdout) as Array<{ id: string; inputSchema: unknown }>;
    expect(defs.map((d) => d.id)).toContain('mgmt.steps');
    const after = await cli(['definitions', '--json'], { token: TOKENS.viewer });
    expect(JSON.parse(after.stdout)).toEqual(defs);

    const stats = await cli(['stats'], { token: TOKENS.viewer });
    expect(stats.code).toBe(0);
    expect(stats.stdout).toMatch(/DEFINITION.*STATUS.*QUEUE.*PEAK.*EVALS.*ERRORS/);
    const nodes = await cli(['nodes', '--json'], { token: TOKENS.viewer });
    expect(JSON.parse(nodes.stdout)).toEqual([expect.objectContaining({ id: api.harness.engine.nodeId })]);
  });

  it('trigger prints the run id; run and runs show it; input from a file', async () => {
    const triggered = await cli(['trigger', 'mgmt.echo', '--input', '{"count":2}']);
    expect(triggered.code).toBe(0);
    const id = triggered.stdout.trim();
    expect(id).toMatch(/^[0-9a-z]{26}$/);
    await api.harness.service.wait(id, { timeout: 10_000 });
    const one = await cli(['run', id, '--json'], { token: TOKENS.viewer });
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ id, status: 'success', output: { count: 2 }, input: { count: 2 } });
    const human = await cli(['run', id], { token: TOKENS.viewer });
    expect(human.stdout).toMatch(new RegExp(`^id\\s+${id}$`, 'm'));
    expect(human.stdout).toMatch(/^status\s+success$/m);
    const list = await cli(['runs', '--definition', 'mgmt.echo', '--status', 'success', '--limit', '5', '--json'], { token: TOKENS.viewer });
    expect((JSON.parse(list.stdout) as Array<{ id: string }>).map((r) => r.id)).toContain(id);
    const table = await cli(['runs', '--definition', 'mgmt.echo'], { token: TOKENS.viewer });
    expect(table.stdout).toMatch(/RUN.*DEFINITION.*STATUS/);
    expect(table.stdout).toContain(id);
    // --tenant: the runs whose context.tenant it is (filtered by storage), none of the others
    const acme = await api.harness.service.trigger({ definition: 'mgmt.echo', input: { count: 1 }, context: { tenant: 'acme' } });
    const tenants = await cli(['runs', '--tenant', 'acme', '--json'], { token: TOKENS.viewer });
    expect(tenants.code).toBe(0);
    expect((JSON.parse(tenants.stdout) as Array<{ id: string }>).map((r) => r.id)).toEqual([acme.id]);

    const tmp = tempDir();
    try {
      writeFileSync(join(tmp.dir, 'input.json'), '{"count": 7}');
      const fromFile = await cli(['trigger', 'mgmt.echo', '--input', `@${join(tmp.dir, 'input.json')}`, '--json']);
      expect(fromFile.code).toBe(0);
      expect(JSON.parse(fromFile.stdout)).toMatchObject({ definitionId: 'mgmt.echo', input: { count: 7 } });
    } finally {
      tmp.remove();
    }
  });

  it('trigger --watch and watch: a progress bar until the end; exit 0 on success, 1 on failure or abort', async () => {
    const watched = await cli(['trigger', 'mgmt.steps', '--input', '{"steps":4,"ms":300}', '--watch']);
    expect(watched.code).toBe(0);
    const [id] = watched.stdout.trim().split('\n');
    expect(watched.stdout).toContain(`run ${id} success`);
    expect(watched.stderr).toMatch(/\d+% \| \d+\/4/); // the bar, printed as lines when not a terminal
    expect(watched.stderr).toMatch(/100% \| 4\/4/);

    const failing = (await api.harness.service.trigger({ definition: 'mgmt.fail' })).id;
    const failed = await cli(['watch', failing], { token: TOKENS.viewer });
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(`run ${failing} failed: it failed on purpose`);

    const forever = (await api.harness.service.trigger({ definition: 'mgmt.forever' })).id;
    const watching = cli(['watch', forever], { token: TOKENS.viewer });
    await new Promise((r) => setTimeout(r, 1500));
    const aborted = await cli(['abort', forever, '--message', 'enough']);
    expect(aborted.code).toBe(0);
    expect(aborted.stdout).toContain(forever);
    const end = await watching;
    expect(end.code).toBe(1);
    expect(end.stdout).toContain(`run ${forever} aborted: enough`);
  });

  it('logs, and logs --follow until the run ends', async () => {
    const id = (await api.harness.service.trigger({ definition: 'mgmt.steps', input: { steps: 3, ms: 300 } })).id;
    const followed = await cli(['logs', id, '--follow'], { token: TOKENS.viewer });
    expect(followed.code).toBe(0);
    const lines = followed.stdout.split('\n').filter((l) => / info /.test(l));
    expect(lines.map((l) => l.replace(/^\S+ info\s+/, ''))).toEqual(['step 1', 'step 2', 'step 3']);
    expect(followed.stdout).toContain(`run ${id} success`);
    const plain = await cli(['logs', id, '--json'], { token: TOKENS.viewer });
    expect((JSON.parse(plain.stdout) as Array<{ message: string }>).map((l) => l.message)).toEqual(['step 1', 'step 2', 'step 3']);
  });

  it('retry, delete and restart', async () => {
    const failing = (await api.harness.service.trigger({ definition: 'mgmt.fail' })).id;
    await api.harness.service.wait(failing, { timeout: 10_000 });
    const retried = await cli(['retry', failing]);
    expect(retried.code).toBe(0);
    const newId = retried.stdout.trim();
    expect(newId).toMatch(/^[0-9a-z]{26}$/);
    expect(await api.harness.service.get(newId)).toMatchObject({ definitionId: 'mgmt.fail', retryOf: failing });
    await api.harness.service.wait(newId, { timeout: 10_000 });

    expect((await cli(['delete', failing])).code).toBe(3); // operators may not delete
    const deleted = await cli(['delete', failing], { token: TOKENS.admin });
    expect(deleted).toMatchObject({ code: 0, stdout: `run ${failing} deleted\n` });
    expect((await cli(['delete', failing], { token: TOKENS.admin })).code).toBe(4);
    const running = (await api.harness.service.trigger({ definition: 'mgmt.forever' })).id;
    const refused = await cli(['delete', running], { token: TOKENS.admin });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('TASK_NOT_FINISHED');
    expect((await cli(['retry', running])).code).toBe(1);

    const restarted = await cli(['restart', 'mgmt.forever', '--message', 'maintenance', '--json']);
    expect(restarted.code).toBe(0);
    expect(JSON.parse(restarted.stdout)).toMatchObject({ id: 'mgmt.forever' });
    expect(await api.harness.service.wait(running, { timeout: 10_000 })).toMatchObject({ status: 'aborted', error: { message: 'maintenance' } });
    expect((await cli(['restart', 'mgmt.nope'])).code).toBe(4);
  });

  it('exit codes: 2 usage, 3 unauthenticated or forbidden, 4 not found, 5 input invalid, 6 unreachable', async () => {
    const expectCode = async (args: string[], code: number, options: { token?: string | null; url?: string } = {}, stderr?: RegExp) => {
      const r = await cli(args, options);
      expect({ args, code: r.code }).toEqual({ args, code });
      if (stderr) expect(r.stderr).toMatch(stderr);
      return r;
    };
    await expectCode(['nope'], 2, {}, /unknown command/);
    await expectCode(['runs', '--limit', 'lots'], 2);
    await expectCode(['runs', '--status', 'SUCCESS'], 2);
    await expectCode(['run'], 2, {}, /missing required argument/);
    await expectCode(['trigger', 'mgmt.echo', '--input', '{count:'], 2, {}, /not valid JSON/);
    await expectCode(['trigger', 'mgmt.echo', '--input', '@/no/such/file.json'], 2);
    expect((await cli(['--help'])).code).toBe(0);

    await expectCode(['definitions'], 3, { token: null }, /no token/);
    await expectCode(['definitions'], 3, { token: 'not-a-valid-token-at-all' }, /UNAUTHENTICATED/);
    await expectCode(['definitions'], 3, { token: TOKENS.expired });
    await expectCode(['trigger', 'mgmt.echo', '--input', '{"count":1}'], 3, { token: TOKENS.viewer }, /FORBIDDEN/);

    await expectCode(['run', '01hzzzzzzzzzzzzzzzzzzzzzzz'], 4, {}, /no run/);
    await expectCode(['watch', '01hzzzzzzzzzzzzzzzzzzzzzzz'], 4);
    await expectCode(['logs', '01hzzzzzzzzzzzzzzzzzzzzzzz'], 4);
    await expectCode(['abort', '01hzzzzzzzzzzzzzzzzzzzzzzz'], 4, {}, /TASK_NOT_FOUND/);
    await expectCode(['trigger', 'mgmt.nope'], 4, {}, /UNKNOWN_DEFINITION/);

    const invalid = await expectCode(['trigger', 'mgmt.echo', '--input', '{"count":0,"extra":1}'], 5, {}, /INPUT_INVALID/);
    expect(invalid.stderr).toMatch(/^ {2}count: .+/m);
    expect(invalid.stderr).toMatch(/^ {2}extra: .+/m);

    const closed = `http://127.0.0.1:${await freePort()}`;
    await expectCode(['definitions'], 6, { url: closed }, /cannot reach/);
    await expectCode(['watch', '01hzzzzzzzzzzzzzzzzzzzzzzz'], 6, { url: closed });
  });
});
