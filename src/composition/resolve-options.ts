import { hostname } from 'node:os';
import { InvalidArgumentError } from '../api/errors';
import { optionalDuration } from '../util/duration';
import { checkAcceptRules } from '../core/definitions/accept-rules';
import { DEFAULT_MAX_BYTES } from '../core/definitions/definition-registry';
import type { ResolvedOptions, TasklaneOptions } from '../core/options';
import { DEFAULT_MAX_INPUT_KEYS } from '../core/validation/json-data';

function positiveInteger(value: unknown, name: string, fallback: number): number {
  const n = positive(value, name, fallback);
  if (!Number.isInteger(n)) throw new InvalidArgumentError(`tasklane(): ${name} must be a positive integer`);
  return n;
}

function positive(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new InvalidArgumentError(`tasklane(): ${name} must be a positive number`);
  return value;
}

/** a duration option: a finite number of ms from 1 ms to 10 years (see checkDuration) */
function duration(value: unknown, name: string, fallback: number): number {
  return optionalDuration(value, `tasklane(): ${name}`, fallback, 1);
}

/** `tasklane({...})`'s options checked, with their defaults */
export function resolveOptions(options: TasklaneOptions): ResolvedOptions {
  if (options.nodeId !== undefined && (typeof options.nodeId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(options.nodeId))) {
    throw new InvalidArgumentError('tasklane(): nodeId must be 1-128 characters of [A-Za-z0-9._:-]');
  }
  const concurrency = positiveInteger(options.concurrency, 'concurrency', 50);
  const maxBacklog = options.maxBacklog;
  if (maxBacklog !== undefined && (typeof maxBacklog !== 'number' || !Number.isInteger(maxBacklog) || maxBacklog < 1)) {
    throw new InvalidArgumentError(`tasklane(): maxBacklog must be a positive integer, got ${typeof maxBacklog === 'number' ? maxBacklog : typeof maxBacklog}`);
  }
  return {
    nodeId:
      options.nodeId ??
      `${hostname()
        .replace(/[^A-Za-z0-9._:-]/g, '_')
        .slice(0, 100)}-${process.pid}`,
    concurrency,
    accept: checkAcceptRules(options.accept),
    leaseMs: duration(options.leaseMs, 'leaseMs', 30_000),
    pollMs: duration(options.pollMs, 'pollMs', 1000),
    timeoutGraceMs: duration(options.timeoutGraceMs, 'timeoutGraceMs', 5000),
    catchUpGraceMs: duration(options.catchUpGraceMs, 'catchUpGraceMs', 2000),
    maxInputBytes: positive(options.maxInputBytes, 'maxInputBytes', DEFAULT_MAX_BYTES),
    maxInputKeys: positiveInteger(options.maxInputKeys, 'maxInputKeys', DEFAULT_MAX_INPUT_KEYS),
    maxOutputBytes: positive(options.maxOutputBytes, 'maxOutputBytes', DEFAULT_MAX_BYTES),
    ...(maxBacklog !== undefined ? { maxBacklog } : {}),
  };
}
