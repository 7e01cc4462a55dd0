import { randomUUID } from 'node:crypto';
import { GraphQLError } from 'graphql';
import type { Logger } from 'winston';
import { TasklaneError, TaskValidationError } from '../../api/errors';
import { errorStack } from '../../util/safe-string';

/**
 * The tasklane error codes a client may see with their message: they describe the caller's own
 * request. Any other error (a storage failure, a driver message, a bug) is INTERNAL: the client
 * gets an `errorId`, the server log the real error under the same id.
 */
const EXPOSED_CODES = new Set<string>([
  'INPUT_INVALID',
  'INPUT_TOO_LARGE',
  'INPUT_TOO_DEEP',
  'INPUT_TOO_COMPLEX',
  'UNKNOWN_DEFINITION',
  'DEFINITION_FAULT',
  'TASK_NAME_INVALID',
  'IDENTIFIER_INVALID',
  'TRIGGER_REFUSED',
  'NO_ELIGIBLE_NODE',
  'QUEUE_FULL',
  'TASK_NOT_FOUND',
  'TASK_NOT_FINISHED',
  'INVALID_ARGUMENT',
]);

/** HTTP statuses of the codes that have one (the others answer 200, as GraphQL over HTTP does) */
const HTTP_STATUS: Readonly<Record<string, number>> = {
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  TASK_NOT_FOUND: 404,
  INTERNAL: 500,
};

export function apiError(code: string, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  const status = HTTP_STATUS[code];
  return new GraphQLError(message, { extensions: { code, ...extensions, ...(status ? { http: { status } } : {}) } });
}

export function forbidden(what: string): GraphQLError {
  return apiError('FORBIDDEN', `Forbidden: your role may not ${what}.`);
}

export function unauthenticated(): GraphQLError {
  return apiError('UNAUTHENTICATED', 'Unauthenticated: send a valid token (Authorization: Bearer <token>).');
}

export function taskNotFound(id: string): GraphQLError {
  return apiError('TASK_NOT_FOUND', `No run with id "${String(id).slice(0, 200)}".`);
}

/** an error nobody meant the client to read: logged with an id, answered as INTERNAL with that id */
export function internalError(error: unknown, logger: Logger): GraphQLError {
  const errorId = randomUUID();
  logger.error(`tasklane management: internal error ${errorId}`, {
    errorId,
    error: errorStack(error),
    cause: error instanceof Error && error.cause instanceof Error ? (error.cause.stack ?? error.cause.message) : undefined,
  });
  return apiError('INTERNAL', `Internal error (id ${errorId}); the server log has the details.`, { errorId });
}

/** the GraphQL error a caller sees for `error` */
export function toGraphQLError(error: unknown, logger: Logger): GraphQLError {
  if (error instanceof GraphQLError) {
    // ours (they carry a code), or graphql-js's own about the request; a wrapped error is looked into
    if (error.originalError && !(error.originalError instanceof GraphQLError)) return toGraphQLError(error.originalError, logger);
    return error;
  }
  if (TasklaneError.is(error) && EXPOSED_CODES.has(error.code)) {
    if (error instanceof TaskValidationError) {
      // the list is bounded by the validator (TaskValidationError lists at most 50 properties)
      return apiError(error.code, truncate(error.message), { errors: error.errors });
    }
    return apiError(error.code, truncate(error.message));
  }
  return internalError(error, logger);
}

function truncate(message: string): string {
  return message.length > 2000 ? `${message.slice(0, 2000)}…` : message;
}
