/**
 * A host that never imports tasklane/management pays nothing for it: loading the core entry loads
 * none of graphql, graphql-yoga, prom-client or class-validator-jsonschema (the last is loaded on
 * the first describeInput()).
 */
import { spawnSync } from 'node:child_process';
import { compiled } from '../helpers/child-build';

/** the core entry, compiled as a host loads it from dist/ (test/helpers/child-build.ts) */
const CORE_ENTRY = compiled('src/index.ts');

function loadedModules(script: string): string[] {
  const result = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.status !== 0) throw new Error(`child failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as string[];
}

const MANAGEMENT_ONLY = ['/node_modules/graphql/', '/node_modules/graphql-yoga/', '/node_modules/prom-client/', '/node_modules/class-validator-jsonschema/'];

test('the core entry loads nothing of the management surface', () => {
  const loaded = loadedModules(`require(${JSON.stringify(CORE_ENTRY)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)))`);
  expect(loaded).toContain(CORE_ENTRY);
  for (const part of MANAGEMENT_ONLY) expect(loaded.filter((m) => m.includes(part))).toEqual([]);
  expect(loaded.filter((m) => m.includes('/src/management/'))).toEqual([]);
}, 60_000);

test('the management entry does load them (the check above can fail)', () => {
  const entry = compiled('src/management/index.ts');
  const loaded = loadedModules(`require(${JSON.stringify(entry)}); process.stdout.write(JSON.stringify(Object.keys(require.cache)))`);
  expect(loaded).toContain(entry);
  for (const part of MANAGEMENT_ONLY.slice(0, 3)) expect(loaded.some((m) => m.includes(part))).toBe(true);
}, 60_000);
