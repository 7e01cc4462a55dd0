const MAX_FAST_DEPTH = 256;

/**
 * A deep copy with exactly the semantics of `JSON.parse(JSON.stringify(value))`: `undefined`,
 * functions and symbols are dropped (null inside arrays), non-finite numbers become null, `toJSON`
 * is honoured (Dates become strings), class instances become plain objects, a cycle or a BigInt
 * throws a TypeError. Top-level `undefined` (or a function) gives `undefined`.
 * Plain data is copied by hand; anything unusual takes the JSON route. An own `__proto__` key is
 * defined as data (as JSON.parse does), so it can never reach a prototype.
 */
export function cloneJson(value: unknown): unknown {
  return copy(value, 0);
}

function copy(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'object':
      break;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      return undefined;
  }
  if (value === null) return null;
  if (depth > MAX_FAST_DEPTH) return slowCopy(value); // deep, or a cycle: JSON.stringify throws the TypeError
  if (Array.isArray(value)) {
    if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return slowCopy(value);
    const n = value.length;
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) {
      const item = copy(value[i], depth + 1);
      out[i] = item === undefined ? null : item;
    }
    return out;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  if ((proto !== Object.prototype && proto !== null) || typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return slowCopy(value);
  }
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(source)) {
    const item = copy(source[key], depth + 1);
    if (item === undefined) continue;
    if (key === '__proto__') Object.defineProperty(out, key, { value: item, writable: true, enumerable: true, configurable: true });
    else out[key] = item;
  }
  return out;
}

function slowCopy(value: unknown): unknown {
  const text = JSON.stringify(value);
  return text === undefined ? undefined : (JSON.parse(text) as unknown);
}
