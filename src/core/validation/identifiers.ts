import { InvalidArgumentError, InvalidIdentifierError, TaskDefinitionError } from '../../api/errors';

/**
 * One place for every user-chosen identifier that reaches a storage key, a SQL value, a Redis key,
 * a log line or a Map: task (definition) ids, idempotency keys, run names and run ids.
 *
 * Every check looks at the type and the length FIRST, so a 10 kB (or 50 MB) string is refused in
 * constant time, before any regular expression runs over it. No pattern here can backtrack.
 */

/** Task (definition) ids, as API.md fixes them. At most {@link TASK_ID_MAX_LENGTH} characters. */
export const TASK_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
export const TASK_ID_MAX_LENGTH = 128;

/**
 * Names that match the pattern but must never be task ids: the names of `Object.prototype`
 * members (a registry keyed by a plain object would hand back a function for them) and `inline`,
 * the definition id `runInline()` runs appear under. `__proto__` is listed for clarity; the
 * pattern already refuses it.
 */
export const RESERVED_TASK_IDS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'toLocaleString',
  'valueOf',
  'hasOwnProperty',
  'isPrototypeOf',
  'propertyIsEnumerable',
  'inline',
]);

/** Idempotency keys: at most this many bytes, UTF-8. */
export const IDEMPOTENCY_KEY_MAX_BYTES = 512;
/** Run names: at most this many characters. */
export const RUN_NAME_MAX_LENGTH = 256;
/** Keys of `store` and `locals` values: at most this many characters. */
export const VALUE_KEY_MAX_LENGTH = 512;
/** The prefix of keys tasklane keeps for itself in a run's `store`. */
export const RESERVED_VALUE_KEY_PREFIX = 'tasklane:';
/** Run ids: at most this many characters of [A-Za-z0-9_-]. */
export const RUN_ID_MAX_LENGTH = 128;
const RUN_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

// C0 controls (NUL included), DEL and C1 controls.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/;
// A UTF-16 surrogate without its partner: it has no UTF-8 form, so two different JS strings
// would be stored as the same bytes (both become U+FFFD) and collide as keys.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Text every storage holds as given: no NUL (PostgreSQL text) and no lone surrogate (no UTF-8 form). */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && !LONE_SURROGATE.test(text);
}

/** A short, printable rendering of a refused value for error messages (never the 10 kB of it). */
export function describeIdentifier(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : typeof value;
  if (value.length <= 64) return JSON.stringify(value);
  return `${JSON.stringify(value.slice(0, 64))}... (${value.length} characters)`;
}

/**
 * Checks a task (definition) id: a string of at most 128 characters matching
 * {@link TASK_ID_PATTERN}, and not a reserved name. Returns it; throws `TaskDefinitionError`
 * with code `TASK_NAME_INVALID` otherwise.
 */
export function assertTaskId(id: unknown): string {
  if (typeof id !== 'string') {
    throw new TaskDefinitionError(`Invalid task id: expected a string, got ${describeIdentifier(id)}`, 'TASK_NAME_INVALID');
  }
  if (id.length === 0 || id.length > TASK_ID_MAX_LENGTH) {
    throw new TaskDefinitionError(`Invalid task id ${describeIdentifier(id)}: it must be 1 to ${TASK_ID_MAX_LENGTH} characters long`, 'TASK_NAME_INVALID');
  }
  if (!TASK_ID_PATTERN.test(id)) {
    throw new TaskDefinitionError(
      `Invalid task id ${describeIdentifier(id)}: it must match ${TASK_ID_PATTERN} (letters, digits, and . _ : - after the first character)`,
      'TASK_NAME_INVALID',
    );
  }
  if (RESERVED_TASK_IDS.has(id)) {
    throw new TaskDefinitionError(`Invalid task id ${describeIdentifier(id)}: this name is reserved`, 'TASK_NAME_INVALID');
  }
  return id;
}

/**
 * Checks an idempotency key: a string of 1 to 512 bytes (UTF-8) with no control characters (NUL
 * included) and no lone surrogates. Any other character is allowed (`order:42`, an e-mail, ...):
 * adapters must pass keys as bound parameters / inside their own prefix, never splice them.
 * Throws `InvalidIdentifierError` (code `IDENTIFIER_INVALID`).
 */
export function assertIdempotencyKey(key: unknown): string {
  if (typeof key !== 'string') {
    throw new InvalidIdentifierError('idempotency key', `expected a string, got ${describeIdentifier(key)}`);
  }
  // UTF-8 needs at least one byte per UTF-16 unit: a string longer than the limit in units is
  // too long in bytes, whatever it holds, and is refused without encoding it.
  if (key.length === 0 || key.length > IDEMPOTENCY_KEY_MAX_BYTES || Buffer.byteLength(key, 'utf8') > IDEMPOTENCY_KEY_MAX_BYTES) {
    throw new InvalidIdentifierError('idempotency key', `${describeIdentifier(key)} must be 1 to ${IDEMPOTENCY_KEY_MAX_BYTES} bytes long (UTF-8)`);
  }
  if (CONTROL_CHARS.test(key)) {
    throw new InvalidIdentifierError('idempotency key', `${describeIdentifier(key)} contains a control character`);
  }
  if (LONE_SURROGATE.test(key)) {
    throw new InvalidIdentifierError('idempotency key', `${describeIdentifier(key)} contains a lone UTF-16 surrogate`);
  }
  return key;
}

/**
 * Checks the key of a `store` or `locals` value: a string of 1 to 512 characters, with no control
 * characters (NUL included) and no lone surrogates (PostgreSQL cannot store them, and two such
 * strings would collide once encoded), not starting with `tasklane:` (reserved). Any other
 * character is allowed: adapters bind keys as parameters and keep them in Maps. Throws
 * `InvalidArgumentError` (code `INVALID_ARGUMENT`); `what` names the key in the message.
 */
export function assertValueKey(key: unknown, what: string): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > VALUE_KEY_MAX_LENGTH) {
    throw new InvalidArgumentError(`${what} keys are non-empty strings of at most ${VALUE_KEY_MAX_LENGTH} characters, got ${describeIdentifier(key)}`);
  }
  if (CONTROL_CHARS.test(key)) throw new InvalidArgumentError(`${what} key ${describeIdentifier(key)} contains a control character`);
  if (LONE_SURROGATE.test(key)) throw new InvalidArgumentError(`${what} key ${describeIdentifier(key)} contains a lone UTF-16 surrogate`);
  if (key.startsWith(RESERVED_VALUE_KEY_PREFIX)) throw new InvalidArgumentError(`${what} keys starting with "${RESERVED_VALUE_KEY_PREFIX}" are reserved`);
  return key;
}

/**
 * Checks a run name: a string of 1 to 256 characters with no control characters and no lone
 * surrogates. Throws `InvalidIdentifierError` (code `IDENTIFIER_INVALID`).
 */
export function assertRunName(name: unknown): string {
  if (typeof name !== 'string') {
    throw new InvalidIdentifierError('run name', `expected a string, got ${describeIdentifier(name)}`);
  }
  if (name.length === 0 || name.length > RUN_NAME_MAX_LENGTH) {
    throw new InvalidIdentifierError('run name', `${describeIdentifier(name)} must be 1 to ${RUN_NAME_MAX_LENGTH} characters long`);
  }
  if (CONTROL_CHARS.test(name)) {
    throw new InvalidIdentifierError('run name', `${describeIdentifier(name)} contains a control character`);
  }
  if (LONE_SURROGATE.test(name)) {
    throw new InvalidIdentifierError('run name', `${describeIdentifier(name)} contains a lone UTF-16 surrogate`);
  }
  return name;
}

/**
 * Checks a run id given by a caller (`get`, `abort`, `wait`, `parent`, `after`, ...): a non-empty
 * string of at most 128 characters of [A-Za-z0-9_-]. Throws `InvalidIdentifierError`.
 */
/** a string that can be a run id (time-ordered ids made here, or ids of the same alphabet) */
export function isRunIdShape(id: string): boolean {
  return id.length > 0 && id.length <= RUN_ID_MAX_LENGTH && RUN_ID_PATTERN.test(id);
}

export function assertRunId(id: unknown): string {
  if (typeof id !== 'string') {
    throw new InvalidIdentifierError('run id', `expected a string, got ${describeIdentifier(id)}`);
  }
  if (id.length === 0 || id.length > RUN_ID_MAX_LENGTH || !RUN_ID_PATTERN.test(id)) {
    throw new InvalidIdentifierError('run id', `${describeIdentifier(id)} must be 1 to ${RUN_ID_MAX_LENGTH} characters of A-Z, a-z, 0-9, _ and -`);
  }
  return id;
}
