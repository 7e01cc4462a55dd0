import { describeKind, errorMessage } from '../../util/safe-string';
import { getMetadataStorage, validateSync, type ValidationError, type ValidatorOptions } from 'class-validator';
import { types } from 'node:util';
import { toInputInstance } from './input-instance';
import { TaskDefinitionError, type ValidationIssue } from '../../api/errors';
import { checkJsonData, copyJsonData, deepFreeze, fail, freezeJsonData, isPlainPrototype, MAX_ISSUES, type InputLimits } from './json-data';

/**
 * The input validator: everything a trigger's input, a `continue()` patch, a run's `context` or a
 * run's output goes through before tasklane stores it or hands it to `run()`.
 *
 * Order of the checks, cheapest and most dangerous first:
 * 1. The shape of the data, walked ITERATIVELY (an explicit stack, never recursion, so 10,000
 *    levels of nesting cannot overflow the call stack): only JSON data (plain objects, arrays,
 *    strings, finite numbers, booleans, null), no cycles, no accessors, no symbols, no Proxy, no
 *    `__proto__` / `constructor` / `prototype` keys, at most `maxDepth` levels and, for inputs, at
 *    most `maxKeys` object keys and array elements in all. While walking it keeps a lower bound of
 *    the serialized size and gives up as soon as that bound passes `maxInputBytes`, so a 50 MiB
 *    string or a million-element array is refused without serializing (or copying) anything.
 * 2. The exact size: `JSON.stringify` + `Buffer.byteLength` (UTF-8); exactly the limit is accepted.
 * 3. For inputs: a fresh copy is made by `JSON.parse` of that string (the caller's object is never
 *    touched or kept, and the task sees exactly what storage will hold), turned into an instance of
 *    the input class (toInputInstance: what class-transformer makes, no implicit conversion) and
 *    validated by class-validator with {@link VALIDATOR_OPTIONS}. The instance is deep-frozen.
 *
 * Cost: linear in the size of the data, and the key count is checked before anything is listed
 * per key, so refusing any value costs at most one listing of an object's keys. What a DTO asks
 * class-validator to do per element (`each: true`, nested DTOs) is bounded by `maxKeys`; the
 * default keeps accepting or refusing any input within the defaults under 50 ms of CPU
 * (`npm run bench`, section "validation cost").
 *
 * Every refusal is a `TaskValidationError` with one entry per failing property (dotted path,
 * `''` for the whole value) and a code: INPUT_TOO_LARGE, INPUT_TOO_DEEP, INPUT_TOO_COMPLEX or
 * INPUT_INVALID.
 */

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
  Object,
  Array,
  Function,
  String,
  Number,
  Boolean,
  Symbol,
  BigInt,
  Date,
  RegExp,
  Error,
  Map,
  Set,
  WeakMap,
  WeakSet,
  Promise,
  ArrayBuffer,
  DataView,
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
    fail('INPUT_INVALID', [{ path: '', constraints: { isPlainObject: `${context} must be a plain JSON object, got ${describeKind(value)}` } }], context);
  }
  const json = checkJsonData(value, limits, context)!;
  // A detached copy, exactly what storage will hold. JSON.parse creates an own "__proto__" key
  // for such input rather than changing a prototype, and the walk refused those keys anyway.
  // The instance shares its plain-data values with it (toInputInstance never changes them): both
  // are frozen, the copy first, so freezing the instance does not walk them again.
  const plain = JSON.parse(json) as Record<string, unknown>;

  let instance: I;
  try {
    instance = toInputInstance(inputClass, plain);
  } catch (err) {
    // a DTO's own @Transform refusing the value is an invalid input, not a crash
    const message = errorMessage(err);
    fail('INPUT_INVALID', [{ path: '', constraints: { transform: message.slice(0, 200) } }], context);
  }
  if (typeof instance !== 'object' || instance === null || !(instance instanceof inputClass)) {
    fail(
      'INPUT_INVALID',
      [{ path: '', constraints: { isPlainObject: `${context} could not be turned into ${inputClass.name || 'the input class'}` } }],
      context,
    );
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
  freezeJsonData(plain);
  return { instance: deepFreeze(instance), plain };
}

/**
 * A run's `context`, given to trigger() or captured from runWithContext() (by trigger() and
 * runInline() alike): a plain JSON object within the limits, checked as any input is (no functions,
 * cycles, BigInts, Dates, `__proto__` keys...), and copied. `undefined` stays `undefined`.
 */
export function prepareContext(raw: unknown, limits: InputLimits): Record<string, unknown> | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw) || types.isProxy(raw) || !isPlainPrototype(raw)) {
    fail('INPUT_INVALID', [{ path: '', constraints: { isPlainObject: `context must be a plain JSON object, got ${describeKind(raw)}` } }], 'context');
  }
  return copyJsonData(raw, limits, 'context') as Record<string, unknown>;
}
