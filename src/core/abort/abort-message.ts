import type { RunError, RunErrorCode } from '../../api/types';

/** where abort() keeps its message for a running run, so any node ending it can store it */
export const ABORT_MESSAGE_KEY = 'tasklane:abort-message';

/** the message stored with no message given (abort() without one, a message that cannot be read) */
export const DEFAULT_ABORT_MESSAGE = 'aborted';

/** the error stored on an aborted run (see RunErrorCode `ABORTED`) */
export function abortError(message: string): RunError {
  return { message, code: 'ABORTED' satisfies RunErrorCode };
}

/** the message a run stores when its abort came from its parent's */
export function parentAbortedMessage(parentId: string, message?: string): string {
  return message === undefined ? `parent ${parentId} aborted` : `parent ${parentId} aborted: ${message}`;
}
