/**
 * npm run bench: prints figures, asserts nothing. Sections: the dashboard's asset sizes, validation
 * cost, memory, SQLite, the management API (`management`, `management:http`, `management:list`),
 * then PostgreSQL when TASKLANE_PG_URL (or the default local server) answers. One section alone:
 * `node --expose-gc dist/bench/run.js validation` (or dashboard, memory, sqlite, rss, management, postgres).
 * Memory figures use --expose-gc when available (node --expose-gc dist/bench/run.js).
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { memoryStorage, sqliteStorage, type RunStorage } from '../src';
import { printDashboardSize } from './dashboard-size';
import { burstLoopDelay, formatRate, latency, rssWithPending, throughput } from './local-bench';
import { validationCost } from './validation-bench';

// figures only: the engine's own log lines (abort requests, ...) would drown them
process.env.TASKLANE_LOG_LEVEL ??= 'error';

const only = process.argv[2];

async function section(name: string, makeStorage: () => RunStorage): Promise<void> {
  console.log(`\n== ${name}`);
  const tput = await throughput(makeStorage, 10_000);
  console.log(
    `throughput, 10,000 no-op runs triggered at once:   ${formatRate(tput.median)} (median of 5; ${formatRate(tput.min)} to ${formatRate(tput.max)})`,
  );
  const lat = await latency(makeStorage, 300);
  console.log(`trigger-to-start latency, idle pool:               p50 ${lat.p50.toFixed(3)} ms, p99 ${lat.p99.toFixed(3)} ms`);
  const burst = await burstLoopDelay(makeStorage, 100_000);
  console.log(
    `event-loop delay, 100,000 runs triggered and run, pool 50 (R17): p50 ${burst.p50.toFixed(1)} ms, p99 ${burst.p99.toFixed(1)} ms, max ${burst.max.toFixed(1)} ms (${burst.seconds.toFixed(1)} s)`,
  );
}

async function main(): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 'tasklane-bench-'));
  let n = 0;
  const sqlite = () => sqliteStorage({ file: join(tmp, `bench-${n++}.db`) });
  try {
    if (!only || only === 'dashboard') printDashboardSize(join(__dirname, '..', '..', 'dashboard', 'dist'));
    if (!only || only === 'validation') validationCost();
    if (!only || only === 'memory') await section('memory', () => memoryStorage());
    if (!only || only === 'sqlite') await section('SQLite (WAL, synchronous=NORMAL)', sqlite);
    if (only === 'rss:memory' || only === 'rss:sqlite') {
      const mb = await rssWithPending(only === 'rss:memory' ? () => memoryStorage() : sqlite, 100_000);
      console.log(`${only === 'rss:memory' ? 'memory' : 'SQLite'}: ${mb.toFixed(0)} MB`);
      return;
    }
    if (!only || only === 'rss') {
      // each measured in a fresh process, so one adapter's garbage does not count against another
      console.log('\n== RSS with 100,000 pending runs (whole process, after GC)');
      for (const which of ['rss:memory', 'rss:sqlite']) {
        execFileSync(process.execPath, [...process.execArgv, __filename, which], { stdio: 'inherit' });
      }
    }
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded only when its section runs (it brings the management API and its dependencies)
    if (!only || only.startsWith('management')) await (require('./management-bench') as { run(only?: string): Promise<void> }).run(only);
    if (!only || only === 'postgres') {
      // the PostgreSQL section lives in its own file (it forks node processes)
      const file = join(__dirname, 'postgres-bench.js');
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a path known at run time, which may not have been built
      if (existsSync(file)) await (require(file) as { run(): Promise<void> }).run();
      else console.log('\n== PostgreSQL: bench/postgres-bench not built');
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
