/** The longest duration a caller may pass (a delay, a retry backoff): 10 years, in ms (API.md section 5). */
export const MAX_DURATION_MS = 10 * 365 * 24 * 3600_000;

/** Units a duration string may use, in ms. */
const UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

const DURATION = /^([0-9]{1,9})(ms|s|m|h|d)$/;

/**
 * A duration in ms from a number of ms (a non-negative integer) or a string such as `90s`, `2m`,
 * `1h` (one unit of ms, s, m, h or d; no spaces, no fractions). Anything else, and anything above
 * `max`, throws a `TypeError` whose message names `what`.
 */
export function parseDuration(value: unknown, what: string, max: number): number {
  let ms: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0) throw new TypeError(`${what} must be a non-negative integer of ms or a duration like "2m", got ${String(value)}`);
    ms = value;
  } else if (typeof value === 'string') {
    const match = DURATION.exec(value);
    if (!match) throw new TypeError(`${what} must be a duration like "90s", "2m" or "1h" (units ms, s, m, h, d), got ${JSON.stringify(value.slice(0, 40))}`);
    ms = Number(match[1]) * UNITS[match[2]];
  } else {
    throw new TypeError(`${what} must be a number of ms or a duration string like "2m", got ${value === null ? 'null' : typeof value}`);
  }
  if (ms > max) throw new TypeError(`${what} may be at most ${max} ms, got ${ms} ms`);
  return ms;
}
