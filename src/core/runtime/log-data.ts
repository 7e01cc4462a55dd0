import { types } from 'node:util';
import { describeKind, errorMessage } from '../../util/safe-string';

/** the most JSON text of log data kept; more is replaced by a note */
export const MAX_LOG_DATA_CHARS = 64 * 1024;
const MAX_DEPTH = 32;

/**
 * The data of a run log line (`controller.log.info(message, data)`) as a JSON-safe copy, made
 * once and handed both to winston and to storage. Never throws, whatever the task passed.
 *
 * The usual case (plain data) is `JSON.parse(JSON.stringify(data))`. When that throws (a getter
 * or `toJSON` that throws, a Proxy whose traps throw, a cycle, a BigInt), the data is walked
 * instead and each part that cannot be serialised is replaced by a marker: `[Circular]`,
 * `[unreadable: ...]`, `[Proxy]`, a BigInt by its decimal text. Data whose JSON is larger than
 * {@link MAX_LOG_DATA_CHARS} is replaced by a note. Why both winston and storage get this copy:
 * winston reads the data's properties when it merges the metadata and serialises it later, in its
 * stream, where a throw could not be caught on the task's behalf.
 */
export function logData(data: unknown): unknown {
  if (data === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(data);
  } catch {
    try {
      text = JSON.stringify(walk(data));
    } catch {
      return `[log data that cannot be serialised: ${describeKind(data)}]`;
    }
  }
  if (text === undefined) return undefined;
  if (text.length > MAX_LOG_DATA_CHARS) return `[data larger than ${MAX_LOG_DATA_CHARS / 1024} KiB omitted]`;
  return JSON.parse(text) as unknown;
}

/** a JSON-serialisable copy of `value` (recursion bounded by MAX_DEPTH; log data is small) */
function walk(value: unknown, ancestors: Set<object> = new Set(), depth = 0): unknown {
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'function':
    case 'symbol':
    case 'undefined':
      return undefined;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return null;
  if (types.isProxy(value)) return '[Proxy]';
  if (ancestors.has(value)) return '[Circular]';
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  let source: unknown = value;
  const toJSON = read(value, 'toJSON');
  if (typeof toJSON === 'function') {
    try {
      source = (toJSON as (key: string) => unknown).call(value, '');
    } catch (err) {
      return unreadable(err);
    }
    if (typeof source !== 'object' || source === null) return walk(source, ancestors, depth);
    if (types.isProxy(source)) return '[Proxy]';
  }
  ancestors.add(value);
  try {
    if (Array.isArray(source)) return source.map((item: unknown) => walk(item, ancestors, depth + 1) ?? null);
    const out: Record<string, unknown> = Object.create(null) as Record<string, unknown>; // a "__proto__" key stays a key
    let keys: string[];
    try {
      keys = Object.keys(source as object);
    } catch (err) {
      return unreadable(err);
    }
    for (const key of keys) {
      let item: unknown;
      try {
        item = (source as Record<string, unknown>)[key];
      } catch (err) {
        out[key] = unreadable(err);
        continue;
      }
      const copy = walk(item, ancestors, depth + 1);
      if (copy !== undefined) out[key] = copy;
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}

function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function unreadable(err: unknown): string {
  return `[unreadable: ${errorMessage(err, 200)}]`;
}
