import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

const ROOT = resolve(__dirname, '../..');

/** Debian's Chromium: no browser download is reachable here (.ci/run installs it when missing). */
export const CHROMIUM = process.env.TASKLANE_CHROMIUM ?? '/usr/bin/chromium';

/** Screenshots of the browser tests go here (git-ignored). */
export const TEST_OUTPUT = join(ROOT, 'test-output');

/**
 * One headless Chromium for a test file. playwright-core gives each launch a fresh temporary
 * user-data dir and removes it on close; the flags keep the browser from calling any other host.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (.ci/run does it in CI)`);
  }
  mkdirSync(TEST_OUTPUT, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/**
 * Builds the dashboard into dashboard/dist/ (what `npm run build` does for it) so the browser tests
 * always run the page built from the sources under test. Takes a few seconds.
 */
export function buildDashboard(): string {
  const vite = join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js');
  const result = spawnSync(process.execPath, [vite, 'build', '--config', join(ROOT, 'dashboard', 'vite.config.mts'), '--logLevel', 'warn'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`the dashboard build failed:\n${result.stdout}\n${result.stderr}`);
  return join(ROOT, 'dashboard', 'dist');
}
