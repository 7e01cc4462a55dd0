import { stopLiveEngines } from './live-engines';
import { LEAK_ALLOWED } from './leak-allow-list';
import { LEAK_GUARD_KEY, type LeakGuard } from './leak-guard-contract';

/**
 * The leak guard: a test file that leaves an engine running, a timer armed, or a socket, server or
 * child process open fails. Jest loads this file before each test file (setupFilesAfterEnv);
 * leak-guard-environment.ts runs the check once the file's last afterAll hook has finished.
 *
 * Why not an afterAll hook here: jest-circus runs a describe block's afterAll hooks in the order
 * they were declared, so one declared by a setup file runs FIRST, before the file's own afterAll
 * hooks have closed what they legitimately close (pools, servers). The environment sees the
 * run_finish event, which comes after every hook.
 *
 * Why not async_hooks: an init hook makes node track every promise (measured on node 20: 2.5x
 * slower await loops with an init hook, 18x with a destroy hook too), a cost every test would pay.
 * Instead:
 * - timers: setTimeout/setInterval of the test's global are wrapped to remember what they return
 *   and where it was made. tasklane, its dependencies and the tests all run in that global (jest
 *   loads them into the test's context); jest's own timers come from the outer one and are not
 *   seen. A timer counts as left when it has neither fired nor been cleared, ref'd or not (an
 *   unref'd interval left by a stopped engine is still a leak).
 * - sockets, servers, child processes, worker pipes: the ref'd handles node reports
 *   (process._getActiveHandles) that were not there when the file started.
 */

/** how long closing things get to finish closing: pg-pool's end() resolves while its sockets are still closing */
const SETTLE_MS = 2000;

interface TrackedTimer {
  timer: NodeJS.Timeout;
  /** holds the stack of the call that made the timer, formatted only if it leaks */
  origin: { stack?: string };
}

const timers = new Set<TrackedTimer>();
let sweepAt = 10_000;

function remember(timer: NodeJS.Timeout, madeBy: (...args: never[]) => unknown): void {
  const origin: { stack?: string } = {};
  Error.captureStackTrace(origin, madeBy);
  timers.add({ timer, origin });
  // a file making many short timers: forget the spent ones now and then rather than keep them all
  if (timers.size >= sweepAt) {
    for (const t of timers) if (isSpent(t.timer)) timers.delete(t);
    sweepAt = Math.max(10_000, timers.size * 2);
  }
}

/** node marks a timer _destroyed once it fired (a timeout) or was cleared */
function isSpent(timer: NodeJS.Timeout): boolean {
  return (timer as NodeJS.Timeout & { _destroyed?: boolean })._destroyed !== false;
}

function wrapTimerFactory<F extends (...args: never[]) => NodeJS.Timeout>(real: F): F {
  const wrapped = function (this: unknown, ...args: Parameters<F>): NodeJS.Timeout {
    const timer = real.apply(this, args);
    remember(timer, wrapped);
    return timer;
  };
  // keeps util.promisify.custom and the like
  Object.defineProperties(wrapped, Object.getOwnPropertyDescriptors(real));
  return wrapped as unknown as F;
}

const realSetTimeout = globalThis.setTimeout;
globalThis.setTimeout = wrapTimerFactory(globalThis.setTimeout);
globalThis.setInterval = wrapTimerFactory(globalThis.setInterval);

type Handle = { constructor: { name: string } } & Partial<{
  destroy(): void;
  close(): void;
  kill(signal?: string): void;
  remoteAddress: string;
  remotePort: number;
  localPort: number;
  address(): unknown;
  pid: number;
  spawnargs: string[];
}>;

const activeHandles = (): Handle[] => (process as unknown as { _getActiveHandles(): Handle[] })._getActiveHandles();
const handlesBefore = new Set(activeHandles());

function describeHandle(h: Handle): string {
  const kind = h.constructor.name;
  if (typeof h.pid === 'number') return `${kind} pid ${h.pid} (${(h.spawnargs ?? []).join(' ')})`;
  if (h.remoteAddress) return `${kind} to ${h.remoteAddress}:${h.remotePort} (local port ${h.localPort})`;
  if (typeof h.address === 'function') return `${kind} on ${JSON.stringify(h.address())}`;
  return kind;
}

/** the frame that made the timer, past node's own */
function madeAt(origin: { stack?: string }): string {
  const frames = (origin.stack ?? '')
    .split('\n')
    .slice(1)
    .map((l) => l.trim());
  return frames.find((f) => !f.includes('(node:') && !f.startsWith('at node:')) ?? frames[0] ?? 'an unknown place';
}

interface Leaks {
  timers: TrackedTimer[];
  handles: Handle[];
}

function findLeaks(): Leaks {
  const leftTimers = [...timers].filter((t) => !isSpent(t.timer) && !LEAK_ALLOWED.some((a) => a.timer?.(t.origin.stack ?? '')));
  const leftHandles = activeHandles().filter((h) => !handlesBefore.has(h) && !LEAK_ALLOWED.some((a) => a.handle?.(h)));
  return { timers: leftTimers, handles: leftHandles };
}

async function check(): Promise<string[]> {
  const problems: string[] = [];
  const engines = await stopLiveEngines();
  if (engines > 0) problems.push(`${engines} engine(s) left running (stopped by the leak guard)`);
  let leaks = findLeaks();
  const deadline = Date.now() + SETTLE_MS;
  while ((leaks.timers.length > 0 || leaks.handles.length > 0) && Date.now() < deadline) {
    await new Promise((resolve) => realSetTimeout(resolve, 20));
    leaks = findLeaks();
  }
  for (const t of leaks.timers) {
    problems.push(`a timer left armed, made ${madeAt(t.origin)}`);
    clearTimeout(t.timer); // clearTimeout clears intervals too
  }
  for (const h of leaks.handles) {
    problems.push(`a ${describeHandle(h)} left open`);
    if (typeof h.kill === 'function') h.kill('SIGKILL');
    else if (typeof h.destroy === 'function') h.destroy();
    else if (typeof h.close === 'function') h.close();
  }
  timers.clear();
  return problems;
}

const guard: LeakGuard = { check };
(globalThis as unknown as Record<symbol, LeakGuard>)[LEAK_GUARD_KEY] = guard;
