import { InvalidArgumentError } from '../../../api/errors';

/** JSON text of a value, or null for `undefined` (SQL NULL = absent; JSON null stays JSON null). */
export function jsonText(value: unknown): string | null {
  if (value === undefined) return null;
  const text = JSON.stringify(value);
  return text === undefined ? null : text;
}

export function parseJson(text: string | null): unknown {
  return text === null ? undefined : JSON.parse(text);
}

let lastIso: { text: string; ms: number | null } = { text: '', ms: null };

export function isoToMs(iso: string | undefined): number | null {
  if (iso === undefined || iso === null) return null;
  // runs ending in the same millisecond share their ISO string: parse it once
  if (iso === lastIso.text) return lastIso.ms;
  const ms = Date.parse(iso);
  lastIso = { text: iso, ms: Number.isFinite(ms) ? ms : null };
  return lastIso.ms;
}

export function intMs(value: number | undefined): number | null {
  if (value === undefined || value === null) return null;
  if (!Number.isFinite(value)) throw new InvalidArgumentError(`Not a finite epoch ms: ${value}`);
  return Math.round(value);
}

/** PostgreSQL text cannot hold NUL, nor (through JSON) a lone surrogate. */
// eslint-disable-next-line no-control-regex -- NUL is exactly what this finds
const UNSTORABLE_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_TEXT_ALL = new RegExp(UNSTORABLE_TEXT.source, 'g');

export function storable(value: string): boolean {
  return !UNSTORABLE_TEXT.test(value);
}

/** An identifier or other exact text: refused when PostgreSQL cannot store it as given. */
export function exactText(value: string | undefined, field: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new InvalidArgumentError(`PostgreSQL storage: ${field} must be a string.`);
  if (!storable(value)) {
    throw new InvalidArgumentError(`PostgreSQL storage: ${field} contains a NUL character or a lone surrogate, which PostgreSQL text cannot store.`);
  }
  return value;
}

/** Free text (log messages): what PostgreSQL cannot store becomes U+FFFD. */
export function freeText(value: string): string {
  const text = typeof value === 'string' ? value : String(value);
  return storable(text) ? text : text.replace(UNSTORABLE_TEXT_ALL, '\ufffd');
}

/** the page size of a list: 50 by default (also for nonsense), at most 10,000 */
export function clampLimit(limit: number | undefined): number {
  if (limit === undefined || limit === null) return 50;
  if (!Number.isFinite(limit) || limit < 1) return 50;
  return Math.min(Math.floor(limit), 10_000);
}
