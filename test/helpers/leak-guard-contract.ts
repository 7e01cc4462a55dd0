/**
 * What leak-guard.ts (run inside each test file's context) offers leak-guard-environment.ts (run
 * outside it): the guard sits on the test's global under this key. No side effects here: the
 * environment imports this file into jest's own context.
 */
export const LEAK_GUARD_KEY = Symbol.for('tasklane.leakGuard');

export interface LeakGuard {
  /** the leaks, one line each (none: empty); leaked engines are stopped, timers cleared, handles closed */
  check(): Promise<string[]>;
}
