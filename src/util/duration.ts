import { InvalidArgumentError } from '../api/errors';
import { describeKind } from './safe-string';

/**
 * The longest duration tasklane accepts anywhere a caller passes one (a trigger's `delay`,
 * `continue({ delay })`, `wait`/`result` timeouts, `sleep`, the engine's and definitions'
 * duration options): 10 years of ms. Every due time stays far inside what a `Date`, a SQLite
 * integer and a PostgreSQL `bigint` hold.
 */
export const MAX_DURATION_MS = 10 * 365 * 24 * 3_600_000;

/**
 * The longest a single Node timer waits: a longer `setTimeout` fires after 1 ms instead (Node
 * truncates it with a TimeoutOverflowWarning). Longer waits re-arm (see {@link LongTimeout}),
 * intervals are capped at it (waking up more often than asked is harmless for a poll).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The one check of a duration given by a caller: a finite number of ms from `min` (default 0) to
 * {@link MAX_DURATION_MS}. Returns it; throws `InvalidArgumentError` (`INVALID_ARGUMENT`) whose
 * message names `what` otherwise (NaN, Infinity, a string, an object...).
 */
export function checkDuration(value: unknown, what: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_DURATION_MS) {
    const got = typeof value === 'number' ? String(value) : describeKind(value);
    throw new InvalidArgumentError(`${what} must be a finite number of ms from ${min} to ${MAX_DURATION_MS} (10 years), got ${got}`);
  }
  return value;
}

/** {@link checkDuration} for an optional value: `undefined` gives `fallback`. */
export function optionalDuration(value: unknown, what: string, fallback: number, min = 0): number {
  return value === undefined ? fallback : checkDuration(value, what, min);
}

/**
 * A timeout of any length up to {@link MAX_DURATION_MS}: one Node timer at a time, re-armed when
 * the wait is longer than a timer can hold (no interval, nothing per tick). Most waits are short
 * and cost exactly one `setTimeout`.
 */
export class LongTimeout {
  private timer?: NodeJS.Timeout;
  private readonly until: number;

  constructor(
    private readonly fire: () => void,
    ms: number,
    private readonly unref = false,
  ) {
    this.until = Date.now() + ms;
    this.arm(ms);
  }

  private arm(ms: number): void {
    this.timer = setTimeout(
      () => {
        const left = this.until - Date.now();
        if (left > 0) this.arm(left);
        else {
          this.timer = undefined;
          this.fire();
        }
      },
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
    if (this.unref) this.timer.unref();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const DURATION = /^([0-9]{1,9})(ms|s|m|h|d)$/;

/**
 * A duration in ms from a number of ms (a non-negative integer) or a string such as `90s`, `2m`,
 * `1h` (one unit of ms, s, m, h or d; no spaces, no fractions). Anything else, and anything above
 * `max`, throws an `InvalidArgumentError` whose message names `what`.
 */
export function parseDuration(value: unknown, what: string, max: number): number {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0)
      throw new InvalidArgumentError(`${what} must be a non-negative integer of ms or a duration like "2m", got ${String(value)}`);
    ms = value;
  } else if (typeof value === 'string') {
    const match = DURATION.exec(value);
    if (!match)
      throw new InvalidArgumentError(`${what} must be a duration like "90s", "2m" or "1h" (units ms, s, m, h, d), got ${JSON.stringify(value.slice(0, 40))}`);
    ms = Number(match[1]) * UNITS[match[2]];
  } else {
    throw new InvalidArgumentError(`${what} must be a number of ms or a duration string like "2m", got ${describeKind(value)}`);
  }
  return checkDuration(ms, what, 0) > max ? tooLong(what, max, ms) : ms;
}

function tooLong(what: string, max: number, ms: number): never {
  throw new InvalidArgumentError(`${what} may be at most ${max} ms, got ${ms} ms`);
}
