/**
 * The package is real: it is packed as `npm pack` does for a release (its `prepare` script builds
 * it), the tarball is installed into a fresh host application outside the repository, and two
 * hosts run on it: a strict TypeScript one written from the README's tour (compiled by the host's
 * own TypeScript against the installed declarations, without skipLibCheck; every line of the tour
 * is checked to be in it, so the two stay in step) and a plain
 * JavaScript one. Both run on SQLite and print what they saw.
 *
 * The repository is packed from a copy of its files (git's tracked and untracked-but-not-ignored
 * ones), so the build that `npm pack` runs never touches this checkout's `dist/`, which other
 * tests may be using.
 *
 * better-sqlite3 is installed in the host at the repository's exact version with
 * `--ignore-scripts`, and the binary the repository compiled is copied into it: compiling SQLite a
 * second time costs ~100 s of CI for nothing this test is about (the host's driver is its own
 * choice; what is tested is that tasklane finds and uses it as an optional peer). `pg` is left
 * out on purpose: the JavaScript host checks that `postgresStorage()` then says what to install.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { tempDir } from '../helpers/temp-files';

const ROOT = resolve(__dirname, '../..');
const FIXTURES = __dirname;

jest.setTimeout(300_000);

/** the environment of a child npm/node, without the npm_* variables of the `npm test` around us */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('npm_') && k !== 'INIT_CWD' && k !== 'TASKLANE_LOG_LEVEL') env[k] = v;
  return env;
}

function run(command: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} (in ${cwd}) exited ${String(result.status ?? result.signal)}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
  return result;
}

function versionIn(pkg: string, name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, pkg), 'utf8')) as Record<string, Record<string, string>>).devDependencies[name] as string;
}

function installedVersion(name: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * A line of code as the tour and the host are compared: trimmed, without its trailing `// ...`
 * comment, blanks squeezed. Comment-only lines compare as empty and are left out.
 */
function codeOf(line: string): string {
  return line
    .replace(/\s\/\/ .*$/, '')
    .replace(/^\/\/.*$/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

describe("the README's tour", () => {
  it("is code the TypeScript host holds, line for line (a line with a /* ... */ placeholder stands for the host's own code)", () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const tour = /## A five-minute tour\n+```ts\n([\s\S]*?)\n```/.exec(readme)?.[1];
    expect(tour).toBeDefined();
    const host = new Set(readFileSync(join(FIXTURES, 'host-ts/src/main.ts'), 'utf8').split('\n').map(codeOf));
    const lines = tour!
      .split('\n')
      .filter((l) => !l.includes('/*'))
      .map(codeOf)
      .filter((l) => l.length > 0);
    expect(lines.length).toBeGreaterThan(30);
    expect(lines.filter((l) => !host.has(l))).toEqual([]);
  });
});

describe('the packed package, installed into a fresh host application', () => {
  const tmp = tempDir('tasklane-pack-');
  let tarball = '';
  let files: string[] = [];
  const host = join(tmp.dir, 'host');

  beforeAll(() => {
    // 1. pack a copy of the repository: `npm pack` runs `prepare`, which builds
    const copy = join(tmp.dir, 'repo');
    const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\0')
      .filter((f) => f.length > 0);
    for (const file of listed) {
      const to = join(copy, file);
      mkdirSync(dirname(to), { recursive: true });
      try {
        copyFileSync(join(ROOT, file), to);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // deleted in the work tree
      }
    }
    symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir');
    const packed = run('npm', ['pack', '--json', '--pack-destination', tmp.dir], copy);
    // the prepare script's build prints first (vite's colours hold '[' too): the report is the
    // JSON array that begins on a line of its own
    const report = JSON.parse(packed.stdout.slice(packed.stdout.search(/^\[$/m))) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(tmp.dir, report[0]!.filename);
    files = report[0]!.files.map((f) => f.path);

    // 2. a fresh host outside the repository, with the peers a host brings and the SQLite driver
    mkdirSync(host, { recursive: true });
    const manifest = {
      name: 'tasklane-host',
      private: true,
      version: '1.0.0',
      dependencies: {
        tasklane: `file:${tarball}`,
        inversify: versionIn('package.json', 'inversify'),
        'reflect-metadata': versionIn('package.json', 'reflect-metadata'),
        'class-validator': versionIn('package.json', 'class-validator'),
        'class-transformer': versionIn('package.json', 'class-transformer'),
        'better-sqlite3': installedVersion('better-sqlite3'),
      },
      devDependencies: {
        typescript: versionIn('package.json', 'typescript'),
        '@types/node': versionIn('package.json', '@types/node'),
      },
    };
    writeFileSync(join(host, 'package.json'), JSON.stringify(manifest, null, 2));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], host);
    const binary = join('build', 'Release', 'better_sqlite3.node');
    mkdirSync(join(host, 'node_modules/better-sqlite3/build/Release'), { recursive: true });
    copyFileSync(join(ROOT, 'node_modules/better-sqlite3', binary), join(host, 'node_modules/better-sqlite3', binary));
    cpSync(join(FIXTURES, 'host-ts'), host, { recursive: true });
    cpSync(join(FIXTURES, 'host-js'), host, { recursive: true });
  });

  afterAll(() => tmp.remove());

  it('holds the built library, its declarations and sources, and nothing of the repository besides', () => {
    expect(files).toEqual(
      expect.arrayContaining([
        'package.json',
        'README.md',
        'LICENSE',
        'CHANGELOG.md',
        'dist/src/index.js',
        'dist/src/index.d.ts',
        'dist/src/index.d.ts.map',
        'src/index.ts',
        'dist/plugins/run-retention/index.js',
        'dashboard/dist/index.html',
      ]),
    );
    // the built dashboard ships (its assets), its sources do not
    expect(files.filter((f) => f.startsWith('dashboard/dist/assets/') && f.endsWith('.js')).length).toBeGreaterThan(0);
    const outside = files.filter(
      (f) => !/^(dist\/(src|plugins)\/|src\/|plugins\/|dashboard\/dist\/)/.test(f) && !['package.json', 'README.md', 'LICENSE', 'CHANGELOG.md'].includes(f),
    );
    expect(outside).toEqual([]);
    expect(files.filter((f) => /(^|\/)(test|sample-app|bench)\/|\.test\.[jt]s$/.test(f))).toEqual([]);
  });

  it('installs without pulling a database driver of its own', () => {
    const installed = readdirSync(join(host, 'node_modules'));
    expect(installed).toContain('tasklane');
    expect(installed).not.toContain('pg'); // an optional peer: this host did not ask for it
  });

  it('compiles a strict TypeScript host written from the README tour, which runs on SQLite', () => {
    run(join(host, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json'], host);
    const out = run(process.execPath, ['dist/main.js'], host).stdout;
    expect(out).toContain('imported 100 by the repository: 100');
    // the repository fails once: the retry policy takes the run back, and the definition's locals keep the total
    expect(out).toContain('status success after 1 retry, attempt 2; locals {"imported":100}');
    expect(out).toContain('refused INPUT_INVALID at count');
    expect(out).toContain('definitions tasklane.retention,users.import');
    expect(out).toContain('stopped');
  });

  it('runs a plain JavaScript host, loading a driver only when its adapter is created, and serving the dashboard from the installed package', () => {
    const out = run(process.execPath, ['main.js'], host).stdout;
    expect(out).toContain('drivers loaded by the import: 0');
    expect(out).toMatch(/postgresStorage: DRIVER_MISSING: postgresStorage\(\) needs the "pg" package, which is not installed: run `npm install pg@8`/);
    expect(out).toContain('output hello host, 1 log line(s), drivers now: better-sqlite3');
    expect(out).toContain('dashboard: / 200 text/html; charset=utf-8 "tasklane"; script 200 text/javascript; charset=utf-8; graphql me viewer');
    expect(out).toContain('stopped');
  });
});
