import { types } from 'node:util';
import { TaskValidationError, type ValidationIssue } from '../../api/errors';
import { describeKind } from '../../util/safe-string';

/**
 * JSON data, checked: the shape walk every value tasklane stores goes through first (see
 * input-validator.ts for the order of all checks), and the copies and freezing of checked data.
 *
 * The shape of the data is walked ITERATIVELY (an explicit stack, never recursion, so 10,000
 * levels of nesting cannot overflow the call stack), and the exact size is measured on the JSON
 * text (`JSON.stringify` + `Buffer.byteLength`, UTF-8; exactly the limit is accepted). Linear in
 * the size of the data.
 */

export interface InputLimits {
  /** largest accepted value, serialized as JSON, in UTF-8 bytes (default 1 MiB) */
  maxInputBytes: number;
  /** deepest accepted nesting of objects/arrays; the top-level object is level 1 (default 64) */
  maxDepth: number;
  /** the most object keys and array elements, counted over the whole value (inputs: default 10,000; absent: no limit) */
  maxKeys?: number;
}

export const DEFAULT_MAX_INPUT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;
/** the default `maxInputKeys`: object keys and array elements of one input, counted over all of it */
export const DEFAULT_MAX_INPUT_KEYS = 10_000;
export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
  maxDepth: DEFAULT_MAX_DEPTH,
  maxKeys: DEFAULT_MAX_INPUT_KEYS,
});

/** Keys refused anywhere in the data (S02): they are how prototype pollution gets in. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** At most this many issues are listed in one error; the walk stops there. */
export const MAX_ISSUES = 50;
const MAX_PATH_LENGTH = 300;
const MAX_KEY_SHOWN = 64;

type ValidationCode = 'INPUT_INVALID' | 'INPUT_TOO_LARGE' | 'INPUT_TOO_DEEP' | 'INPUT_TOO_COMPLEX';

/** One container on the walk's stack. The path is rebuilt from the parents only when needed. */
interface Frame {
  value: object;
  parent: Frame | null;
  /** its key in the parent (an array index as a number: made a string only for a path) */
  key: string | number | null;
  /** nesting level of the container holding this value (0 for the top-level value) */
  depth: number;
}

/** Marks the end of a container's subtree, to take it out of the ancestor set (cycle check). */
interface ExitMarker {
  exit: object;
}

function showKey(key: string | number): string {
  if (typeof key === 'number') return String(key);
  return key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}...` : key;
}

function pathOf(frame: Frame | null): string {
  const keys: string[] = [];
  for (let f = frame; f !== null && f.key !== null; f = f.parent) keys.push(showKey(f.key));
  const path = keys.reverse().join('.');
  return path.length > MAX_PATH_LENGTH ? `${path.slice(0, MAX_PATH_LENGTH)}...` : path;
}

function childPath(parent: Frame | null, key: string | number): string {
  const base = pathOf(parent);
  return base ? `${base}.${showKey(key)}` : showKey(key);
}

export function isPlainPrototype(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

export function fail(code: ValidationCode, issues: ValidationIssue[], context: string): never {
  throw new TaskValidationError(issues, code, context);
}

/**
 * What a value that is not a container costs of the size budget (a lower bound of its JSON text),
 * or the reason it is not JSON data.
 */
function scalar(v: unknown): number | string {
  switch (typeof v) {
    case 'string':
      return v.length + 2; // UTF-8 needs >= 1 byte per UTF-16 unit, plus the quotes
    case 'number':
      return Number.isFinite(v) ? 1 : `${String(v)} is not a JSON number`;
    case 'boolean':
      return v ? 4 : 5;
    case 'undefined':
      return 'undefined is not a JSON value (use null)';
    default:
      return v === null ? 4 : `${describeKind(v)} is not a JSON value`;
  }
}

/**
 * Walks `root` (any JSON value) and throws unless it is JSON data within the limits.
 * Returns its JSON text (`undefined` for an `undefined` root).
 */
export function checkJsonData(root: unknown, limits: InputLimits, context: string): string | undefined {
  if (root === undefined) return undefined;
  const maxBytes = limits.maxInputBytes;
  const maxDepth = limits.maxDepth;
  const maxKeys = limits.maxKeys ?? Infinity;
  const tooLarge = (): never =>
    fail('INPUT_TOO_LARGE', [{ path: '', constraints: { maxBytes: `larger than ${maxBytes} bytes when serialized as JSON` } }], context);
  const tooComplex = (): never =>
    fail('INPUT_TOO_COMPLEX', [{ path: '', constraints: { maxKeys: `more than ${maxKeys} object keys and array elements in all` } }], context);

  const issues: ValidationIssue[] = [];
  const issue = (path: string, constraints: Record<string, string>): void => {
    issues.push({ path, constraints });
  };
  // A lower bound of the serialized size still allowed: every value costs at least what is
  // counted (see scalar), so running out of it proves the value too large without serializing it.
  let budget = maxBytes;
  // keys and elements still allowed: checked before a container's keys are listed one by one,
  // so a 100,000-key object costs one listing of its keys to refuse
  let keysLeft = maxKeys;
  const ancestors = new Set<object>();
  const stack: Array<Frame | ExitMarker> = [];
  if (typeof root === 'object' && root !== null) stack.push({ value: root, parent: null, key: null, depth: 0 });
  else {
    const cost = scalar(root);
    if (typeof cost === 'string') issue('', { isJson: cost });
    else if ((budget -= cost) < 0) tooLarge();
  }
  /** a child of `frame`: containers go on the stack (in `into`), the others are checked here */
  const child = (frame: Frame, key: string | number, x: unknown, depth: number, into: Frame[]): void => {
    if (typeof x === 'object' && x !== null) into.push({ value: x, parent: frame, key, depth });
    else {
      const cost = scalar(x);
      if (typeof cost === 'string') issue(childPath(frame, key), { isJson: cost });
      else budget -= cost;
    }
  };

  while (stack.length > 0 && issues.length < MAX_ISSUES) {
    const item = stack.pop()!;
    if ('exit' in item) {
      ancestors.delete(item.exit);
      continue;
    }
    const frame = item;
    const v = frame.value;
    // Before anything touches it: a Proxy runs code on every key listing and property read.
    if (types.isProxy(v)) {
      issue(pathOf(frame), { isJson: 'a Proxy is not JSON data' });
      continue;
    }
    const depth = frame.depth + 1;
    if (depth > maxDepth) {
      fail('INPUT_TOO_DEEP', [{ path: pathOf(frame), constraints: { maxDepth: `nested deeper than ${maxDepth} levels` } }], context);
    }
    if (ancestors.has(v)) {
      issue(pathOf(frame), { noCycle: 'circular reference' });
      continue;
    }
    const children: Frame[] = [];
    if (Array.isArray(v)) {
      if (Object.getPrototypeOf(v) !== Array.prototype) {
        issue(pathOf(frame), { isJson: `${describeKind(v)} is not a plain array` });
        continue;
      }
      const length = v.length;
      // '[' ']' + commas + at least one byte per element: refuse huge arrays before listing them
      if (2 * length + 1 > budget) tooLarge();
      if ((keysLeft -= length) < 0) tooComplex();
      budget -= 2 + Math.max(0, length - 1);
      if (Reflect.ownKeys(v).length !== length + 1) {
        issue(pathOf(frame), { isJson: 'an array with holes or extra properties is not JSON data' });
        continue;
      }
      for (let i = 0; i < length; i++) {
        const desc = Object.getOwnPropertyDescriptor(v, i);
        if (desc === undefined || !('value' in desc)) {
          issue(childPath(frame, i), { isJson: desc ? 'accessor properties are not JSON data' : 'array holes are not JSON data' });
          continue;
        }
        child(frame, i, desc.value, depth, children);
      }
    } else {
      if (!isPlainPrototype(v)) {
        issue(pathOf(frame), { isPlainObject: `${describeKind(v)} is not a plain JSON object` });
        continue;
      }
      budget -= 2;
      // Object.keys is the cheapest listing (a third of Reflect.ownKeys): the count first
      const keys = Object.keys(v);
      if ((keysLeft -= keys.length) < 0) tooComplex();
      for (const symbol of Object.getOwnPropertySymbols(v)) issue(childPath(frame, String(symbol)), { isJson: 'symbol keys are not JSON data' });
      if (Object.getOwnPropertyNames(v).length !== keys.length) {
        const enumerable = new Set(keys);
        for (const name of Object.getOwnPropertyNames(v)) {
          if (!enumerable.has(name)) issue(childPath(frame, name), { isJson: 'non-enumerable properties are not JSON data' });
        }
      }
      let first = true;
      for (const key of keys) {
        if (FORBIDDEN_KEYS.has(key)) {
          issue(childPath(frame, key), { forbiddenKey: `the key "${showKey(key)}" is not allowed` });
          continue;
        }
        const desc = Object.getOwnPropertyDescriptor(v, key)!;
        if (!('value' in desc)) {
          issue(childPath(frame, key), { isJson: 'accessor properties are not JSON data' });
          continue;
        }
        if (desc.value === undefined) continue; // absent, as JSON.stringify has it
        budget -= key.length + 3 + (first ? 0 : 1); // "key": and a comma
        first = false;
        if (budget < 0) tooLarge();
        child(frame, key, desc.value, depth, children);
      }
    }
    if (budget < 0) tooLarge();
    ancestors.add(v);
    stack.push({ exit: v });
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
  }

  if (issues.length > 0) fail('INPUT_INVALID', issues.slice(0, MAX_ISSUES), context);

  // The walk proved it JSON data within a lower bound; now the exact size. The string is at most
  // a few times maxInputBytes (escapes), never the 50 MiB a hostile caller sent.
  const json = JSON.stringify(root);
  if (Buffer.byteLength(json, 'utf8') > maxBytes) tooLarge();
  return json;
}

/**
 * Checks any JSON value (a run's `context`, an output, a store value, ...): JSON data only, no
 * cycles, no forbidden keys, at most `maxDepth` levels and `maxInputBytes` bytes. The top-level
 * value may be any JSON value; `undefined` (absent) is accepted. Throws `TaskValidationError`
 * whose message says `Invalid <what>`; callers that need another code (OUTPUT_TOO_LARGE) map it.
 */
export function validateJsonData(raw: unknown, limits: InputLimits, what: string): void {
  checkJsonData(raw, limits, what);
}

/**
 * {@link validateJsonData}, returning a detached, deep-frozen copy made from the checked JSON text
 * (`undefined` for `undefined`): what is stored never shares an object with the caller, and can
 * always be stored (no cycle, getter or Proxy survives the check).
 */
export function copyJsonData(raw: unknown, limits: InputLimits, what: string): unknown {
  const json = checkJsonData(raw, limits, what);
  return json === undefined ? undefined : freezeJsonData(JSON.parse(json) as unknown);
}

/** containers frozen with everything in them by freezeJsonData: deepFreeze does not walk them again */
const DEEP_FROZEN = new WeakSet<object>();

/**
 * Deep-freezes JSON data as JSON.parse or structuredClone make it (plain objects and arrays, no
 * accessors, no cycles, nothing inherited enumerable), iteratively. It reads values directly,
 * which is why it is for such data only (anything else: {@link deepFreeze}); on a 10,000-key
 * object it costs a third of deepFreeze.
 */
export function freezeJsonData<T>(v: T): T {
  const stack: unknown[] = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x !== 'object' || x === null || DEEP_FROZEN.has(x)) continue;
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) {
        const item: unknown = x[i];
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
    } else {
      for (const key in x) {
        const item = (x as Record<string, unknown>)[key];
        if (typeof item === 'object' && item !== null) stack.push(item);
      }
    }
    Object.freeze(x);
    DEEP_FROZEN.add(x);
  }
  return v;
}

/**
 * Freezes `v` and everything reachable from it through own data properties, iteratively (no
 * recursion), each object once (cycles are fine), without running any getter. Functions are not
 * descended into, typed arrays / DataViews are left as they are (freezing them throws), and data
 * frozen by freezeJsonData is not walked again.
 */
export function deepFreeze<T>(v: T): T {
  const seen = new Set<object>();
  const stack: unknown[] = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x !== 'object' || x === null || seen.has(x) || DEEP_FROZEN.has(x)) continue;
    seen.add(x);
    if (ArrayBuffer.isView(x) || types.isProxy(x)) continue;
    for (const key of Reflect.ownKeys(x)) {
      const desc = Object.getOwnPropertyDescriptor(x, key);
      if (desc && 'value' in desc && typeof desc.value === 'object' && desc.value !== null) stack.push(desc.value);
    }
    Object.freeze(x);
  }
  return v;
}
