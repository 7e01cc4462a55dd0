import { InvalidArgumentError } from '../../api/errors';
import type { LogType, RunStatus } from '../../api/types';

const STATUSES: ReadonlySet<string> = new Set<RunStatus>(['pending', 'running', 'success', 'failed', 'aborted']);
/** the log types a storage accepts */
export const LOG_TYPES: ReadonlySet<string> = new Set<LogType>(['info', 'warn', 'error']);

/** refuses anything but a run status before it reaches a store */
export function assertStatus(status: unknown): asserts status is RunStatus {
  if (typeof status !== 'string' || !STATUSES.has(status)) {
    throw new InvalidArgumentError(`Unknown run status ${JSON.stringify(status)}.`);
  }
}
