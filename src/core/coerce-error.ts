import type { RunError, RunErrorCode } from '../api/types';
import { describeKind } from '../util/safe-string';

const MAX_MESSAGE = 4000;

/** The start of the message stored for an error none of whose message could be read. */
export const UNREADABLE_ERROR = 'The error could not be read';

function safeData(data: unknown): unknown {
  if (data === undefined) return undefined;
  try {
    const text = JSON.stringify(data);
    if (text === undefined || text.length > 64 * 1024) return undefined;
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** `value instanceof Error`, false when asking throws (a Proxy's getPrototypeOf trap) */
function isError(value: object): boolean {
  try {
    return value instanceof Error;
  } catch {
    return false;
  }
}

function unreadable(value: unknown, why: string): RunError {
  return { message: `${UNREADABLE_ERROR} (${describeKind(value)}: ${why})` };
}

/**
 * Normalises anything thrown or answered into the stored `{ message, code?, data?, stack? }`.
 *
 * Never throws, whatever the value: every read of it is guarded, because reading runs the value's
 * own code (getters, `toString`, `Symbol.toPrimitive`, a Proxy's traps) and any of it may throw.
 * A message that cannot be read gives a placeholder starting with {@link UNREADABLE_ERROR} that
 * names the kind of value; other fields that cannot be read are left out.
 */
export function coerceError(value: unknown): RunError {
  try {
    return coerce(value);
  } catch {
    return unreadable(value, 'reading it threw');
  }
}

/** marks a property whose reading threw */
const UNREAD = Symbol('unread');

function read(value: object, key: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch {
    return UNREAD;
  }
}

function coerce(value: unknown): RunError {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) {
    return { message: String(value).slice(0, MAX_MESSAGE) }; // primitives convert without running user code
  }
  const error = isError(value);
  const message = read(value, 'message');
  let out: RunError;
  if (typeof message === 'string') out = { message: message.slice(0, MAX_MESSAGE) };
  else if (message === UNREAD) return unreadable(value, 'reading its message threw');
  else if (error) {
    if (message === undefined || message === null) out = { message: 'Error' };
    else if (typeof message !== 'object' && typeof message !== 'function') out = { message: String(message).slice(0, MAX_MESSAGE) };
    else out = unreadable(value, 'its message is not text');
  } else {
    // a thrown object without a message: its text, when it has one
    let text: unknown;
    try {
      text = String(value);
    } catch {
      return unreadable(value, 'it has no message and cannot be turned into text');
    }
    return typeof text === 'string' ? { message: text.slice(0, MAX_MESSAGE) } : unreadable(value, 'it has no message');
  }
  const code = read(value, 'code');
  if (typeof code === 'string' || typeof code === 'number') out.code = String(code).slice(0, 200);
  const data = read(value, 'data');
  if (data !== UNREAD) {
    const copy = safeData(data);
    if (copy !== undefined) out.data = copy;
  }
  if (error) {
    const stack = read(value, 'stack');
    if (typeof stack === 'string') out.stack = stack.slice(0, MAX_MESSAGE * 2);
  }
  return out;
}

/** a run error tasklane decides (its code one of {@link RunErrorCode}) */
export function runError(message: string, code: RunErrorCode, data?: unknown): RunError {
  return data === undefined ? { message, code } : { message, code, data };
}
