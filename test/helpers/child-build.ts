/**
 * The JavaScript that tests run in child processes (cluster nodes, SQLite workers, the CLI, the
 * sample app, migration racers): the project compiled once per `jest` run, by jest's globalSetup
 * (test/helpers/global-setup.ts), into node_modules/.cache/tasklane-test-build.
 *
 * Why: a child that loads the TypeScript sources through ts-node spent about 5 s of CPU compiling
 * them before its first line ran (0.7 s from JavaScript), and the suite starts dozens of them; on a
 * busy 2-core machine that was the largest part of the suite's time. The build is what `npm run
 * build` compiles (tsconfig.build.json: src, plugins, sample-app, bench, test/fixtures) with the
 * same compiler and options, without its type check (`--noCheck`; `npm test` type-checks first)
 * and incremental, so a second run compiles only what changed.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');
/** the build's folder; set in the environment once built, so nested jest runs reuse it */
const ENV = 'TASKLANE_TEST_BUILD';
const DEFAULT_DIR = join(ROOT, 'node_modules', '.cache', 'tasklane-test-build');

function buildDir(): string {
  return process.env[ENV] || DEFAULT_DIR;
}

/**
 * The compiled JavaScript of a TypeScript file of the project, for a child process to run:
 * `compiled('test/fixtures/pg-node.ts')`. Throws when it was not built (jest's globalSetup builds it).
 */
export function compiled(fromRoot: string): string {
  const file = join(buildDir(), fromRoot.replace(/\.ts$/, '.js'));
  if (!existsSync(file)) {
    throw new Error(`${file} is missing: the test build is made by jest's globalSetup (test/helpers/global-setup.ts); run the tests through jest`);
  }
  return file;
}

/** Compiles the project for child processes (see above); a no-op when this jest run's parent built it. */
export function buildForChildren(): void {
  if (process.env[ENV]) return;
  const out = DEFAULT_DIR;
  const started = Date.now();
  const result = spawnSync(
    process.execPath,
    [
      require.resolve('typescript/bin/tsc'),
      '-p',
      join(ROOT, 'tsconfig.build.json'),
      '--outDir',
      out,
      '--noCheck',
      '--incremental',
      '--tsBuildInfoFile',
      join(out, '.tsbuildinfo'),
      '--declaration',
      'false',
      '--declarationMap',
      'false',
      '--sourceMap',
      'false',
    ],
    { cwd: ROOT, encoding: 'utf8', timeout: 300_000 },
  );
  if (result.status !== 0) {
    throw new Error(`compiling the test build failed (${result.error?.message ?? `exit ${result.status}`}):\n${result.stdout}${result.stderr}`);
  }
  process.env[ENV] = out;
  process.stdout.write(`test build for child processes: ${relative(ROOT, out)} (${Date.now() - started} ms)\n`);
}
