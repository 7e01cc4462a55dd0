/**
 * Real worker processes on one SQLite file: test/fixtures/sqlite-worker.ts, compiled (child-build.ts), forked.
 * `spawnSqliteWorker` resolves once the worker's engine has started (its IPC message) and rejects
 * if it exits first; its stdout and stderr are kept in `output`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { compiled } from './child-build';

export interface SqliteWorker {
  child: ChildProcess;
  /** resolves when the process exits: its exit code, and when (Date.now()) */
  exit: Promise<{ code: number | null; at: number }>;
  /** what it wrote, prefixed with its node id and stream */
  output: string[];
}

export function spawnSqliteWorker(db: string, sink: string, nodeId: string, options: { graceMs?: number; logLevel?: string } = {}): Promise<SqliteWorker> {
  const child = fork(compiled('test/fixtures/sqlite-worker.ts'), [db, sink, nodeId], {
    execArgv: [],
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: {
      ...process.env,
      TASKLANE_LOG_LEVEL: options.logLevel ?? 'silent',
      ...(options.graceMs !== undefined ? { TL_GRACE_MS: String(options.graceMs) } : {}),
    },
  });
  const output: string[] = [];
  child.stdout!.on('data', (d: Buffer) => output.push(`[${nodeId} stdout] ${d.toString()}`));
  child.stderr!.on('data', (d: Buffer) => output.push(`[${nodeId} stderr] ${d.toString()}`));
  const exit = new Promise<{ code: number | null; at: number }>((resolve) => child.once('exit', (code) => resolve({ code, at: Date.now() })));
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve({ child, exit, output }));
    void exit.then(({ code }) => reject(new Error(`worker ${nodeId} exited early with ${code}: ${output.join('')}`)));
  });
}

/** resolves with the process's exit code once it has exited (at once if it has) */
export function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}
