import { InvalidArgumentError, TasklaneError } from '../../api/errors';
import { describeKind, errorMessage } from '../../util/safe-string';

/**
 * The options objects callers hand to TaskService (and tasks to their controller) are read once,
 * here, into a snapshot: reading them runs the caller's code (getters, a Proxy's traps), which may
 * throw anything, and a getter read twice may answer differently the second time (a value checked
 * and then used must be the same value). Whatever goes wrong is an `InvalidArgumentError` naming
 * the call, never a `TypeError`.
 */
export function readOptions<K extends string>(value: unknown, keys: ReadonlySet<K>, what: string, shape: string): Partial<Record<K, unknown>> {
  if (typeof value !== 'object' || value === null) throw new InvalidArgumentError(`${what} takes an options object ${shape}, got ${describeKind(value)}`);
  const out: Partial<Record<K, unknown>> = {};
  try {
    for (const key in value) if (!keys.has(key as K)) throw new InvalidArgumentError(`${what}: unknown option "${key.slice(0, 64)}"`);
    for (const key of keys) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = v;
    }
  } catch (err) {
    if (TasklaneError.is(err)) throw err;
    throw new InvalidArgumentError(`${what}: the options could not be read: ${errorMessage(err, 200)}`);
  }
  return out;
}

/** `value[key]` of a caller's object; an `InvalidArgumentError` naming `what` when reading it throws. */
export function readProperty(value: object, key: string, what: string): unknown {
  try {
    return (value as Record<string, unknown>)[key];
  } catch (err) {
    throw new InvalidArgumentError(`${what} could not be read: ${errorMessage(err, 200)}`);
  }
}
