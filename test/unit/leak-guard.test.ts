import { execFile } from 'node:child_process';
import { join } from 'node:path';

/**
 * The leak guard (test/helpers/leak-guard.ts) must be able to fail: jest runs, in a child process
 * and with the project's own configuration, fixture files that each leave one thing running, and
 * one that closes all of it (partly in an afterAll hook, which the guard must wait for).
 */
const root = join(__dirname, '..', '..');
const fixtures = join(__dirname, 'leak-guard-fixtures');

interface FileResult {
  name: string;
  status: 'passed' | 'failed';
  message: string;
}

function runFixtures(): Promise<FileResult[]> {
  const args = [
    require.resolve('jest/bin/jest'),
    '--config',
    join(root, 'jest.config.ts'),
    '--roots',
    fixtures,
    '--testMatch',
    '**/*.leaky.ts',
    '--runInBand',
    '--json',
  ];
  return new Promise((resolve, reject) => {
    execFile(process.execPath, args, { cwd: root, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, TASKLANE_SERIAL: '' } }, (_error, stdout, stderr) => {
      try {
        const report = JSON.parse(stdout) as { testResults: FileResult[] };
        resolve(report.testResults.map((r) => ({ name: r.name.slice(fixtures.length + 1), status: r.status, message: r.message })));
      } catch {
        reject(new Error(`jest gave no report:\n${stderr}`));
      }
    });
  });
}

test('a file leaving an engine, a timer, a socket or a child process fails, naming it; a file that closes them passes', async () => {
  const results = new Map((await runFixtures()).map((r) => [r.name, r]));
  expect(results.get('clean.leaky.ts')).toMatchObject({ status: 'passed' });
  expect(results.get('leaks-engine.leaky.ts')).toMatchObject({ status: 'failed', message: expect.stringContaining('1 engine(s) left running') });
  expect(results.get('leaks-timer.leaky.ts')).toMatchObject({
    status: 'failed',
    message: expect.stringMatching(/a timer left armed, made .*leaks-timer\.leaky\.ts/),
  });
  expect(results.get('leaks-socket.leaky.ts')).toMatchObject({ status: 'failed', message: expect.stringContaining('a Server on') });
  expect(results.get('leaks-socket.leaky.ts')?.message).toMatch(/a Socket to 127\.0\.0\.1:\d+/);
  expect(results.get('leaks-child.leaky.ts')).toMatchObject({ status: 'failed', message: expect.stringMatching(/a ChildProcess pid \d+/) });
}, 180_000);
