import { errorMessage } from '../../util/safe-string';
import { plainToInstance, type ClassTransformOptions } from 'class-transformer';
import { getMetadataStorage, validateSync, type ValidationError, type ValidatorOptions } from 'class-validator';
import { types } from 'node:util';
import { TaskDefinitionError, TaskValidationError, type ValidationIssue } from '../../api/errors';

/**
 * The input validator: everything a trigger's input, a `continue()` patch, a run's `context` or a
 * run's output goes through before tasklane stores it or hands it to `run()`.
 *
 * Order of the checks, cheapest and most dangerous first:
 * 1. The shape of the data, walked ITERATIVELY (an explicit stack, never recursion, so 10,000
 *    levels of nesting cannot overflow the call stack): only JSON data (plain objects, arrays,
 *    strings, finite numbers, booleans, null), no cycles, no accessors, no symbols, no Proxy, no
 *    `__proto__` / `constructor` / `prototype` keys, at most `maxDepth` levels. While walking it
 *    keeps a lower bound of the serialized size and gives up as soon as that bound passes
 *    `maxInputBytes`, so a 50 MiB string or a million-element array is refused without
 *    serializing (or copying) anything.
 * 2. The exact size: `JSON.stringify` + `Buffer.byteLength` (UTF-8); exactly the limit is accepted.
 * 3. For inputs: a fresh copy is made by `JSON.parse` of that string (the caller's object is never
 *    touched or kept, and the task sees exactly what storage will hold), turned into an instance of
 *    the input class by class-transformer (no implicit conversion) and validated by
 *    class-validator with {@link VALIDATOR_OPTIONS}. The instance is deep-frozen and returned.
 *
 * Every refusal is a `TaskValidationError` with one entry per failing property (dotted path,
 * `''` for the whole value) and a code: INPUT_TOO_LARGE, INPUT_TOO_DEEP or INPUT_INVALID.
 */

export interface InputLimits {
  /** largest accepted value, serialized as JSON, in UTF-8 bytes (default 1 MiB) */
  maxInputBytes: number;
  /** deepest accepted nesting of objects/arrays; the top-level object is level 1 (default 64) */
  maxDepth: number;
}

export const DEFAULT_MAX_INPUT_BYTES = 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 64;
export const DEFAULT_INPUT_LIMITS: Readonly<InputLimits> = Object.freeze({
  maxInputBytes: DEFAULT_MAX_INPUT_BYTES,
  maxDepth: DEFAULT_MAX_DEPTH,
});

/**
 * The class-validator options every input is validated with (CVE-2019-18413: `forbidUnknownValues`).
 * Undeclared properties are refused (`whitelistValidation`), never silently stripped; the values
 * and the target are kept out of the errors so refused input never leaks into messages or logs.
 */
export const VALIDATOR_OPTIONS: Readonly<ValidatorOptions> = Object.freeze({
  whitelist: true,
  forbidNonWhitelisted: true,
  forbidUnknownValues: true,
  skipMissingProperties: false,
  stopAtFirstError: false,
  validationError: Object.freeze({ target: false, value: false }),
});

/** class-transformer options: no implicit conversion (`'42'` stays a string) unless the DTO asks. */
export const TRANSFORM_OPTIONS: Readonly<ClassTransformOptions> = Object.freeze({
  enableImplicitConversion: false,
  excludeExtraneousValues: false,
  exposeDefaultValues: false,
});

/** Keys refused anywhere in the data (S02): they are how prototype pollution gets in. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** At most this many issues are listed in one error; the walk stops there. */
const MAX_ISSUES = 50;
const MAX_PATH_LENGTH = 300;
const MAX_KEY_SHOWN = 64;

type ValidationCode = 'INPUT_INVALID' | 'INPUT_TOO_LARGE' | 'INPUT_TOO_DEEP';

/** One value on the walk's stack. The path is rebuilt from the parents only when needed. */
interface Frame {
  value: unknown;
  parent: Frame | null;
  key: string | null;
  /** nesting level of the container holding this value (0 for the top-level value) */
  depth: number;
}

/** Marks the end of a container's subtree, to take it out of the ancestor set (cycle check). */
interface ExitMarker {
  exit: object;
}

function showKey(key: string): string {
  return key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}...` : key;
}

function pathOf(frame: Frame | null): string {
  const keys: string[] = [];
  for (let f = frame; f !== null && f.key !== null; f = f.parent) keys.push(showKey(f.key));
  const path = keys.reverse().join('.');
  return path.length > MAX_PATH_LENGTH ? `${path.slice(0, MAX_PATH_LENGTH)}...` : path;
}

function childPath(parent: Frame, key: string): string {
  const base = pathOf(parent);
  return base ? `${base}.${showKey(key)}` : showKey(key);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  const t = typeof value;
  if (t !== 'object') return t === 'undefined' ? 'undefined' : `a ${t}`;
  if (types.isProxy(value)) return 'a Proxy';
  const proto: unknown = Object.getPrototypeOf(value);
  const ctor = proto && typeof proto === 'object' ? (proto as { constructor?: unknown }).constructor : undefined;
  const name = typeof ctor === 'function' && typeof ctor.name === 'string' && ctor.name ? ctor.name : 'object';
  return `an instance of ${name.slice(0, MAX_KEY_SHOWN)}`;
}

function isPlainPrototype(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function fail(code: ValidationCode, issues: ValidationIssue[], context: string): never {
  throw new TaskValidationError(issues, code, context);
}

/**
 * Walks `root` (any JSON value) and throws unless it is JSON data within the limits.
 * Returns its JSON text (`undefined` for an `undefined` root).
 */
function checkJsonData(root: unknown, limits: InputLimits, context: string): string | undefined {
  if (root === undefined) return undefined;
  const maxBytes = limits.maxInputBytes;
  const maxDepth = limits.maxDepth;
  const tooLarge = (): never =>
    fail('INPUT_TOO_LARGE', [{ path: '', constraints: { maxBytes: `larger than ${maxBytes} bytes when serialized as JSON` } }], context);

  const issues: ValidationIssue[] = [];
  const issue = (path: string, constraints: Record<string, string>): void => {
    issues.push({ path, constraints });
  };
  // A lower bound of the serialized size still allowed: every value costs at least what is
  // counted here (a string at least its UTF-16 length + 2 quotes, since UTF-8 needs >= 1 byte per
  // UTF-16 unit), so running out of it proves the value too large without serializing it.
  let budget = maxBytes;
  const ancestors = new Set<object>();
  const stack: Array<Frame | ExitMarker> = [{ value: root, parent: null, key: null, depth: 0 }];

  while (stack.length > 0 && issues.length < MAX_ISSUES) {
    const item = stack.pop()!;
    if ('exit' in item) {
      ancestors.delete(item.exit);
      continue;
    }
    const frame = item;
    const v = frame.value;
    switch (typeof v) {
      case 'string':
        budget -= v.length + 2;
        break;
      case 'number':
        if (!Number.isFinite(v)) issue(pathOf(frame), { isJson: `${String(v)} is not a JSON number` });
        budget -= 1;
        break;
      case 'boolean':
        budget -= v ? 4 : 5;
        break;
      case 'undefined':
        // only reachable for array elements: undefined object properties are skipped below
        issue(pathOf(frame), { isJson: 'undefined is not a JSON value (use null)' });
        break;
      case 'function':
      case 'symbol':
      case 'bigint':
        issue(pathOf(frame), { isJson: `${describe(v)} is not a JSON value` });
        break;
      case 'object': {
        if (v === null) {
          budget -= 4;
          break;
        }
        // Before anything touches it: a Proxy runs code on every key listing and property read.
        if (types.isProxy(v)) {
          issue(pathOf(frame), { isJson: 'a Proxy is not JSON data' });
          break;
        }
        const depth = frame.depth + 1;
        if (depth > maxDepth) {
          fail('INPUT_TOO_DEEP', [{ path: pathOf(frame), constraints: { maxDepth: `nested deeper than ${maxDepth} levels` } }], context);
        }
        if (ancestors.has(v)) {
          issue(pathOf(frame), { noCycle: 'circular reference' });
          break;
        }
        if (Array.isArray(v)) {
          if (Object.getPrototypeOf(v) !== Array.prototype) {
            issue(pathOf(frame), { isJson: `${describe(v)} is not a plain array` });
            break;
          }
          const length = v.length;
          // '[' ']' + commas + at least one byte per element: refuse huge arrays before listing them
          if (2 * length + 1 > budget) tooLarge();
          budget -= 2 + Math.max(0, length - 1);
          if (Reflect.ownKeys(v).length !== length + 1) {
            issue(pathOf(frame), { isJson: 'an array with holes or extra properties is not JSON data' });
            break;
          }
          ancestors.add(v);
          stack.push({ exit: v });
          for (let i = length - 1; i >= 0; i--) {
            const desc = Object.getOwnPropertyDescriptor(v, i);
            if (desc === undefined || !('value' in desc)) {
              issue(childPath(frame, String(i)), { isJson: desc ? 'accessor properties are not JSON data' : 'array holes are not JSON data' });
              continue;
            }
            stack.push({ value: desc.value, parent: frame, key: String(i), depth });
          }
          break;
        }
        if (!isPlainPrototype(v)) {
          issue(pathOf(frame), { isPlainObject: `${describe(v)} is not a plain JSON object` });
          break;
        }
        budget -= 2;
        const keys = Reflect.ownKeys(v);
        const children: Frame[] = [];
        for (const key of keys) {
          if (typeof key === 'symbol') {
            issue(childPath(frame, String(key)), { isJson: 'symbol keys are not JSON data' });
            continue;
          }
          if (FORBIDDEN_KEYS.has(key)) {
            issue(childPath(frame, key), { forbiddenKey: `the key "${key}" is not allowed` });
            continue;
          }
          const desc = Object.getOwnPropertyDescriptor(v, key)!;
          if (!('value' in desc)) {
            issue(childPath(frame, key), { isJson: 'accessor properties are not JSON data' });
            continue;
          }
          if (!desc.enumerable) {
            issue(childPath(frame, key), { isJson: 'non-enumerable properties are not JSON data' });
            continue;
          }
          if (desc.value === undefined) continue; // absent, as JSON.stringify has it
          budget -= key.length + 3 + (children.length > 0 ? 1 : 0); // "key": and a comma
          if (budget < 0) tooLarge();
          children.push({ value: desc.value, parent: frame, key, depth });
        }
        ancestors.add(v);
        stack.push({ exit: v });
        for (let i = children.length - 1; i >= 0; i--) stack.push(children[i]!);
        break;
      }
    }
    if (budget < 0) tooLarge();
  }

  if (issues.length > 0) fail('INPUT_INVALID', issues, context);

  // The walk proved it JSON data within a lower bound; now the exact size. The string is at most
  // a few times maxInputBytes (escapes), never the 50 MiB a hostile caller sent.
  const json = JSON.stringify(root);
  if (Buffer.byteLength(json, 'utf8') > maxBytes) tooLarge();
  return json;
}

function flattenErrors(errors: ValidationError[], parentPath: string, out: ValidationIssue[]): void {
  for (const error of errors) {
    const property = error.property === undefined || error.property === null ? '' : String(error.property);
    const path = property === '' ? parentPath : parentPath ? `${parentPath}.${property}` : property;
    if (error.constraints && Object.keys(error.constraints).length > 0) {
      out.push({ path, constraints: { ...error.constraints } });
    }
    // nesting of errors follows the input's, which is at most maxDepth deep: recursion is bounded
    if (error.children && error.children.length > 0) flattenErrors(error.children, path, out);
  }
}

/** Constructors that are never DTOs. */
const BUILT_INS: ReadonlySet<unknown> = new Set<unknown>([
  Object, Array, Function, String, Number, Boolean, Symbol, BigInt, Date, RegExp, Error,
  Map, Set, WeakMap, WeakSet, Promise, ArrayBuffer, DataView,
]);

/**
 * True for a class usable as an `input`: a constructor (not an arrow function, not a built-in
 * such as `Object` or `Date`) with at least one class-validator rule, on itself or inherited.
 * A class without any rule could never accept any input (`forbidUnknownValues`), so it is a
 * definition error rather than a trigger-time surprise.
 */
export function isInputClass(v: unknown): boolean {
  if (typeof v !== 'function' || BUILT_INS.has(v)) return false;
  const proto: unknown = (v as { prototype?: unknown }).prototype;
  if (typeof proto !== 'object' || proto === null) return false;
  if ((proto as { constructor?: unknown }).constructor !== v) return false;
  return getMetadataStorage().getTargetValidationMetadatas(v, '', true, false).length > 0;
}

/** What {@link prepareInput} gives: the instance `run()` receives and the JSON data to store. */
export interface PreparedInput<I> {
  /** deep-frozen instance of the input class; `undefined` for a definition without one */
  instance: I | undefined;
  /** the validated input as plain JSON data (deep-frozen), exactly what storage should hold */
  plain: Record<string, unknown> | undefined;
}

/**
 * Validates the input of a trigger (or a `continue()` patch, `context` only changes the message)
 * and returns it as a deep-frozen instance of `inputClass`.
 *
 * - No input class: `undefined` is accepted (returns `undefined`); any other value, `{}` and
 *   `null` included, is refused with `{ noInput }`.
 * - With an input class: `undefined` is validated as `{}` (so a DTO whose properties are all
 *   optional needs no input; one with required properties lists them); anything that is not a
 *   plain JSON object is refused with `{ isPlainObject }`; then the checks described at the top.
 */
export function validateInput<I extends object>(
  inputClass: (new () => I) | undefined,
  raw: unknown,
  limits: InputLimits,
  context: 'input' | 'continue() patch' = 'input',
): I | undefined {
  return prepareInput(inputClass, raw, limits, context).instance;
}

/**
 * {@link validateInput}, also returning the validated input as plain JSON data (a fresh copy made
 * from the checked JSON text, so it holds no getters, prototypes or references to the caller's
 * objects): store `plain`, hand `instance` to `run()`.
 */
const NO_INPUT: PreparedInput<never> = Object.freeze({ instance: undefined, plain: undefined });

export function prepareInput<I extends object>(
  inputClass: (new () => I) | undefined,
  raw: unknown,
  limits: InputLimits,
  context: 'input' | 'continue() patch' = 'input',
): PreparedInput<I> {
  if (inputClass === undefined) {
    if (raw === undefined) return NO_INPUT as PreparedInput<I>;
    fail('INPUT_INVALID', [{ path: '', constraints: { noInput: 'this task takes no input' } }], context);
  }
  if (typeof inputClass !== 'function') {
    throw new TaskDefinitionError('the input class of a task definition must be a class (a class-validator DTO)');
  }
  const value = raw === undefined ? {} : raw;
  if (typeof value !== 'object' || value === null || Array.isArray(value) || types.isProxy(value) || !isPlainPrototype(value)) {
    fail('INPUT_INVALID', [{ path: '', constraints: { isPlainObject: `${context} must be a plain JSON object, got ${describe(value)}` } }], context);
  }
  const json = checkJsonData(value, limits, context)!;
  // A detached copy, exactly what storage will hold. JSON.parse creates an own "__proto__" key
  // for such input rather than changing a prototype, and the walk refused those keys anyway.
  const copy = JSON.parse(json) as Record<string, unknown>;

  let instance: I;
  try {
    instance = plainToInstance(inputClass, copy, TRANSFORM_OPTIONS);
  } catch (err) {
    // a DTO's own @Transform refusing the value is an invalid input, not a crash
    const message = errorMessage(err);
    fail('INPUT_INVALID', [{ path: '', constraints: { transform: message.slice(0, 200) } }], context);
  }
  if (typeof instance !== 'object' || instance === null || !(instance instanceof inputClass)) {
    fail('INPUT_INVALID', [{ path: '', constraints: { isPlainObject: `${context} could not be turned into ${inputClass.name || 'the input class'}` } }], context);
  }
  // Synchronous on purpose: refusal happens before trigger() stores anything. Async
  // class-validator constraints are ignored by validateSync and are not supported in inputs.
  const errors = validateSync(instance, VALIDATOR_OPTIONS);
  if (errors.length > 0) {
    const issues: ValidationIssue[] = [];
    flattenErrors(errors, '', issues);
    if (issues.length === 0) issues.push({ path: '', constraints: { invalid: 'refused by class-validator' } });
    fail('INPUT_INVALID', issues.slice(0, MAX_ISSUES), context);
  }
  return { instance: deepFreeze(instance), plain: deepFreeze(JSON.parse(json) as Record<string, unknown>) };
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
  return json === undefined ? undefined : deepFreeze(JSON.parse(json) as unknown);
}

/**
 * A run's `context`, given to trigger() or captured from runWithContext() (by trigger() and
 * runInline() alike): a plain JSON object within the limits, checked as any input is (no functions,
 * cycles, BigInts, Dates, `__proto__` keys...), and copied. `undefined` stays `undefined`.
 */
export function prepareContext(raw: unknown, limits: InputLimits): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || types.isProxy(raw) || !isPlainPrototype(raw)) {
    fail('INPUT_INVALID', [{ path: '', constraints: { isPlainObject: `context must be a plain JSON object, got ${describe(raw)}` } }], 'context');
  }
  return copyJsonData(raw, limits, 'context') as Record<string, unknown>;
}

/**
 * Freezes `v` and everything reachable from it through own data properties, iteratively (no
 * recursion), each object once (cycles are fine). Functions are not descended into, and typed
 * arrays / DataViews are left as they are (freezing them throws).
 */
export function deepFreeze<T>(v: T): T {
  const seen = new Set<object>();
  const stack: unknown[] = [v];
  while (stack.length > 0) {
    const x = stack.pop();
    if (typeof x !== 'object' || x === null || seen.has(x)) continue;
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
