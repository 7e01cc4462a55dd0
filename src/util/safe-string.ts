import { types } from 'node:util';

/**
 * Text of values tasklane did not make (what a task threw, a caller's argument, a listener's
 * rejection), for messages and logs. Turning such a value into text runs its code: `toString`,
 * `Symbol.toPrimitive`, getters, a Proxy's traps. Any of those may throw (a null-prototype object
 * has no `toString` at all), so every read here is guarded and falls back to a description of
 * the value's kind. None of these functions ever throws.
 */

const DEFAULT_MAX = 1000;

/** A value of `value[key]`, or `undefined` when reading it throws (a getter, a Proxy trap). */
export function safeGet(value: unknown, key: PropertyKey): unknown {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return undefined;
  try {
    return (value as Record<PropertyKey, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** The kind of a value, read without running any of its code: `a Proxy`, `a null-prototype object`, `an instance of Foo`. */
export function describeKind(value: unknown): string {
  if (value === null) return 'null';
  const t = typeof value;
  if (t !== 'object' && t !== 'function') return t === 'undefined' ? 'undefined' : `a ${t}`;
  if (types.isProxy(value)) return t === 'function' ? 'a Proxy of a function' : 'a Proxy';
  if (t === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  let proto: unknown;
  try {
    proto = Object.getPrototypeOf(value);
  } catch {
    return 'an object';
  }
  if (proto === null) return 'a null-prototype object';
  // the constructor's name through own data properties only: no getter of the value runs
  const ctor = ownData(proto, 'constructor');
  const name = typeof ctor === 'function' ? ownData(ctor, 'name') : undefined;
  return typeof name === 'string' && name !== '' ? `an instance of ${name.slice(0, 64)}` : 'an object';
}

function ownData(value: unknown, key: string): unknown {
  try {
    const desc = Object.getOwnPropertyDescriptor(value, key);
    return desc && 'value' in desc ? desc.value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `String(value)`, at most `max` characters, that never throws: when the value's own conversion
 * throws (or gives no string), the text is `[<kind>]`, e.g. `[a null-prototype object]`.
 * A Proxy is described, never converted (its traps are not run).
 */
export function safeString(value: unknown, max = DEFAULT_MAX): string {
  let text: string;
  if (typeof value === 'string') text = value;
  else if ((typeof value === 'object' || typeof value === 'function') && value !== null && types.isProxy(value)) text = `[${describeKind(value)}]`;
  else if (typeof value === 'function') {
    // never its source text
    const name = ownData(value, 'name');
    text = typeof name === 'string' && name !== '' ? `[function ${name}]` : '[function]';
  } else {
    try {
      text = String(value);
    } catch {
      text = `[${describeKind(value)}]`;
    }
    if (typeof text !== 'string') text = `[${describeKind(value)}]`;
  }
  return text.length > max ? `${text.slice(0, max)}...` : text;
}

/**
 * The message of something thrown: its `message` when that is a readable string, else its text
 * (see {@link safeString}). Never throws; for log lines and the messages of tasklane's errors.
 */
export function errorMessage(err: unknown, max = DEFAULT_MAX): string {
  if (typeof err === 'object' && err !== null && !types.isProxy(err)) {
    const message = safeGet(err, 'message');
    if (typeof message === 'string') return message.length > max ? `${message.slice(0, max)}...` : message;
  }
  return safeString(err, max);
}

/** The stack of something thrown when it has a readable one, else its message (see {@link errorMessage}). */
export function errorStack(err: unknown, max = 8 * DEFAULT_MAX): string {
  if (typeof err === 'object' && err !== null && !types.isProxy(err)) {
    const stack = safeGet(err, 'stack');
    if (typeof stack === 'string') return stack.length > max ? `${stack.slice(0, max)}...` : stack;
  }
  return errorMessage(err, max);
}

/**
 * An error as log metadata: `{ error }` its message, and `cause` the message of its cause when it
 * has one. Messages tasklane's errors show callers leave drivers' messages out (StorageError), but
 * an operator reading the log needs them: they are in the cause.
 */
export function errorFields(err: unknown): { error: string; cause?: string } {
  const cause = typeof err === 'object' && err !== null && !types.isProxy(err) ? safeGet(err, 'cause') : undefined;
  return cause === undefined ? { error: errorMessage(err) } : { error: errorMessage(err), cause: errorMessage(cause) };
}
