import { InvalidArgumentError } from '../../api/errors';
import type { RetryBackoff, RetryPolicy } from '../../api/retry-policy';
import { MAX_DURATION_MS } from '../../util/duration';

const POLICY_KEYS: ReadonlySet<string> = new Set(['attempts', 'backoff']);
const BACKOFF_KEYS: ReadonlySet<string> = new Set(['type', 'delay', 'maxDelay', 'jitter']);

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function checkDuration(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_DURATION_MS) {
    throw new InvalidArgumentError(`${what} must be a number of ms from 0 to ${MAX_DURATION_MS} (10 years)`);
  }
  return value;
}

/**
 * Checks a retry policy (`@Task({ retry })`, `trigger({ retry })`) and returns a clean copy holding
 * only its known fields (what storage keeps with a run). Throws `InvalidArgumentError` naming
 * `what` for anything else: unknown keys (a typo must not silently mean "no backoff"), `attempts`
 * that is not a positive integer, a backoff type other than `fixed` / `exponential`, durations
 * that are not finite numbers of ms from 0 to 10 years, a `jitter` that is not a boolean.
 */
export function checkRetryPolicy(value: unknown, what = 'retry'): RetryPolicy {
  if (!isPlainObject(value)) throw new InvalidArgumentError(`${what} must be an object { attempts, backoff? }`);
  for (const key of Object.keys(value)) {
    if (!POLICY_KEYS.has(key)) throw new InvalidArgumentError(`${what}: unknown option "${key.slice(0, 64)}" (attempts, backoff)`);
  }
  const attempts = value.attempts;
  if (typeof attempts !== 'number' || !Number.isSafeInteger(attempts) || attempts < 1) {
    throw new InvalidArgumentError(`${what}.attempts must be a positive integer (the most executions in all, the first included)`);
  }
  if (value.backoff === undefined) return { attempts };
  const raw = value.backoff;
  if (!isPlainObject(raw)) throw new InvalidArgumentError(`${what}.backoff must be an object { type, delay, maxDelay?, jitter? }`);
  for (const key of Object.keys(raw)) {
    if (!BACKOFF_KEYS.has(key)) throw new InvalidArgumentError(`${what}.backoff: unknown option "${key.slice(0, 64)}" (type, delay, maxDelay, jitter)`);
  }
  if (raw.type !== 'fixed' && raw.type !== 'exponential') throw new InvalidArgumentError(`${what}.backoff.type must be "fixed" or "exponential"`);
  const backoff: RetryBackoff = { type: raw.type, delay: checkDuration(raw.delay, `${what}.backoff.delay`) };
  if (raw.maxDelay !== undefined) backoff.maxDelay = checkDuration(raw.maxDelay, `${what}.backoff.maxDelay`);
  if (raw.jitter !== undefined) {
    if (typeof raw.jitter !== 'boolean') throw new InvalidArgumentError(`${what}.backoff.jitter must be a boolean`);
    backoff.jitter = raw.jitter;
  }
  return { attempts, backoff };
}

/**
 * The wait (ms) before the `retry`-th retry (1 for the first): none without a backoff; `delay`
 * for `fixed`; `delay * 2^(retry-1)` for `exponential`; capped by `maxDelay` (10 years at most).
 * With `jitter`, drawn uniformly between half of it and all of it.
 */
export function retryDelay(policy: RetryPolicy, retry: number, random: () => number = Math.random): number {
  const backoff = policy.backoff;
  if (!backoff) return 0;
  const cap = Math.min(backoff.maxDelay ?? MAX_DURATION_MS, MAX_DURATION_MS);
  // 2^n overflows to Infinity past n = 1023: the cap then applies, as it should
  const raw = backoff.type === 'fixed' ? backoff.delay : backoff.delay * 2 ** Math.max(0, retry - 1);
  const delay = Math.min(raw, cap);
  return backoff.jitter ? delay / 2 + random() * (delay / 2) : delay;
}

/**
 * True when the value the task threw or answered says it must not be retried: an object with
 * `retryable: false`. A property that cannot be read counts as not saying so.
 */
export function refusesRetry(value: unknown): boolean {
  if (typeof value !== 'object' || value === null) return false;
  try {
    return (value as { retryable?: unknown }).retryable === false;
  } catch {
    return false;
  }
}
