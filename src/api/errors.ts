import { errorMessage, safeString } from '../util/safe-string';

/**
 * Every error tasklane throws extends {@link TasklaneError} and carries a stable `code`.
 * Callers branch on the class (`instanceof`) or on `code`; messages are for humans and may change.
 */
export type ErrorCode =
  | 'INPUT_INVALID'
  | 'INPUT_TOO_LARGE'
  | 'INPUT_TOO_DEEP'
  | 'INPUT_TOO_COMPLEX'
  | 'OUTPUT_TOO_LARGE'
  | 'UNKNOWN_DEFINITION'
  | 'DUPLICATE_DEFINITION'
  | 'DEFINITION_INVALID'
  | 'DEFINITION_FAULT'
  | 'TASK_NAME_INVALID'
  | 'IDENTIFIER_INVALID'
  | 'CRON_INVALID'
  | 'TRIGGER_REFUSED'
  | 'TRANSACTION_REFUSED'
  | 'NO_ELIGIBLE_NODE'
  | 'QUEUE_FULL'
  | 'TASK_NOT_FOUND'
  | 'TASK_NOT_FINISHED'
  | 'LOCAL_CONFLICT'
  | 'TASK_TIMEOUT'
  | 'TASK_FAILED'
  | 'TASK_ABORTED'
  | 'MAX_ITERATIONS'
  | 'ITERATION_TIMEOUT'
  | 'LEASE_LOST'
  | 'CRASH_LOOP'
  | 'NODE_LOST'
  | 'SCHEMA_TOO_NEW'
  | 'ENGINE_STATE'
  | 'INVALID_ARGUMENT'
  | 'PLUGIN_INVALID'
  | 'STORAGE_ERROR'
  | 'DRIVER_MISSING'
  | 'TASK_ERROR';

const BRAND = Symbol.for('tasklane.error');

export class TasklaneError extends Error {
  readonly code: ErrorCode;
  readonly data?: unknown;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; data?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    if (options?.data !== undefined) this.data = options.data;
    Object.defineProperty(this, BRAND, { value: true });
  }

  /** True for any tasklane error, even one thrown by another copy of this module. */
  static is(value: unknown): value is TasklaneError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }
}

/** One failing property of an input: its dotted path and the constraints it broke. */
export interface ValidationIssue {
  path: string;
  constraints: Record<string, string>;
}

/**
 * The input of a trigger (or of a `continue()` patch, or a context) was refused. Nothing was
 * stored. `code`: INPUT_INVALID, INPUT_TOO_LARGE (`maxInputBytes`), INPUT_TOO_DEEP (64 levels),
 * INPUT_TOO_COMPLEX (more object keys and array elements than `maxInputKeys`).
 */
export class TaskValidationError extends TasklaneError {
  readonly errors: ValidationIssue[];
  constructor(
    errors: ValidationIssue[],
    code: 'INPUT_INVALID' | 'INPUT_TOO_LARGE' | 'INPUT_TOO_DEEP' | 'INPUT_TOO_COMPLEX' = 'INPUT_INVALID',
    context = 'input',
  ) {
    const detail = errors.map((e) => `${e.path || '(root)'}: ${Object.values(e.constraints).join('; ')}`).join(' | ');
    super(code, `Invalid ${context}: ${detail}`);
    this.errors = errors;
  }
}

export class UnknownTaskDefinitionError extends TasklaneError {
  constructor(readonly definitionId: string) {
    super(
      'UNKNOWN_DEFINITION',
      `No task definition is registered with id "${safeString(definitionId, 200)}". Register it with registerTasks() or a plugin first.`,
    );
  }
}

export class DuplicateTaskDefinitionError extends TasklaneError {
  constructor(readonly definitionId: string) {
    super('DUPLICATE_DEFINITION', `A task definition with id "${definitionId}" is already registered.`);
  }
}

/** A definition's metadata is broken (bad id, input that is not a class, malformed cron, ...). */
export class TaskDefinitionError extends TasklaneError {
  constructor(message: string, code: 'DEFINITION_INVALID' | 'CRON_INVALID' | 'TASK_NAME_INVALID' = 'DEFINITION_INVALID', cause?: unknown) {
    super(code, message, { cause });
  }
}

/** The definition is registered in the `fault` state and cannot be triggered. */
export class TaskDefinitionFaultError extends TasklaneError {
  constructor(
    readonly definitionId: string,
    reason: string,
  ) {
    super('DEFINITION_FAULT', `Task definition "${definitionId}" is in the fault state: ${reason}`);
  }
}

export class InvalidIdentifierError extends TasklaneError {
  constructor(what: string, reason: string) {
    super('IDENTIFIER_INVALID', `Invalid ${what}: ${reason}`);
  }
}

export class CronInvalidError extends TasklaneError {
  constructor(
    readonly expression: string,
    reason: string,
  ) {
    super('CRON_INVALID', `Invalid cron expression "${safeString(expression, 80)}": ${reason}`);
  }
}

/** `onBeforeTrigger` threw: the trigger is refused and nothing was stored. */
export class TaskTriggerRefusedError extends TasklaneError {
  constructor(definitionId: string, cause: unknown) {
    const reason = errorMessage(cause, 2000); // whatever the hook threw, even a value that cannot be read
    super('TRIGGER_REFUSED', `Trigger of "${definitionId}" refused by onBeforeTrigger: ${reason}`, { cause });
  }
}

/**
 * `trigger({ transaction })` was given a handle the storage cannot store a run through: a storage
 * without transactions (memory), a handle of the other database kind, a pool, a handle not in a
 * transaction, or one on another database. Nothing was stored.
 */
export class TransactionRefusedError extends TasklaneError {
  constructor(message: string, cause?: unknown) {
    super('TRANSACTION_REFUSED', message, { cause });
  }
}

export class NoEligibleNodeError extends TasklaneError {
  constructor(readonly definitionId: string) {
    super('NO_ELIGIBLE_NODE', `No live node accepts task definition "${definitionId}": check the nodes' accept rules.`);
  }
}

/**
 * The definition already has `maxBacklog` pending runs: the trigger was refused and nothing was
 * stored. Raised by `trigger()` (and by a child trigger from `controller.trigger()`) instead of
 * letting an unbounded backlog grow; the caller retries later or sheds the work.
 */
export class QueueFullError extends TasklaneError {
  constructor(
    readonly definitionId: string,
    /** the definition's maxBacklog */
    readonly limit: number,
  ) {
    super(
      'QUEUE_FULL',
      `Task definition "${definitionId}" has reached its maxBacklog of ${limit} pending runs: the trigger was refused and nothing was stored. Retry once runs have started, or raise maxBacklog.`,
    );
  }
}

export class TaskNotFoundError extends TasklaneError {
  constructor(readonly runId: string) {
    super('TASK_NOT_FOUND', `No run with id "${safeString(runId, 200)}".`);
  }
}

/** The run has not ended (`pending` or `running`): it cannot be retried or deleted yet. */
export class TaskNotFinishedError extends TasklaneError {
  constructor(
    readonly runId: string,
    readonly status: string,
  ) {
    super('TASK_NOT_FINISHED', `Run ${String(runId).slice(0, 200)} has not finished (it is ${status}): abort it or wait for its end first.`);
  }
}

/**
 * `controller.locals.update()` lost the compare-and-set to other writers of the same key too many
 * times in a row; nothing was written. Retry later, or spread the writes over more keys.
 */
export class TaskLocalConflictError extends TasklaneError {
  constructor(
    readonly definitionId: string,
    readonly key: string,
    attempts: number,
  ) {
    super(
      'LOCAL_CONFLICT',
      `The local "${key.slice(0, 64)}" of "${definitionId}" was changed by other writers during ${attempts} attempts in a row; nothing was written.`,
    );
  }
}

export class TaskTimeoutError extends TasklaneError {
  constructor(
    readonly runId: string,
    timeoutMs: number,
  ) {
    super('TASK_TIMEOUT', `Run ${runId} did not end within ${timeoutMs} ms.`);
  }
}

export class TaskFailedError extends TasklaneError {
  constructor(
    readonly runId: string,
    readonly runError: { message: string; code?: string; data?: unknown } | undefined,
  ) {
    super('TASK_FAILED', `Run ${runId} failed: ${runError?.message ?? 'unknown error'}`, { data: runError });
  }
}

export class TaskAbortedError extends TasklaneError {
  constructor(
    readonly runId: string,
    reason?: string,
  ) {
    super('TASK_ABORTED', `Run ${runId} was aborted${reason ? `: ${reason}` : '.'}`);
  }
}

/** A state change was attempted under a lease that another node has since taken over. */
export class LeaseLostError extends TasklaneError {
  constructor(readonly runId: string) {
    super('LEASE_LOST', `The lease on run ${runId} was lost: another node took it over, the change was refused.`);
  }
}

export class SchemaTooNewError extends TasklaneError {
  constructor(found: number, supported: number, where: string) {
    super(
      'SCHEMA_TOO_NEW',
      `The ${where} schema is at version ${found}, newer than this tasklane supports (${supported}). Upgrade tasklane before using this database.`,
    );
  }
}

/** A call was made in a state that does not allow it (e.g. engine stopped, run finished). */
export class InvalidStateError extends TasklaneError {
  constructor(message: string) {
    super('ENGINE_STATE', message);
  }
}

export class InvalidArgumentError extends TasklaneError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

export class PluginError extends TasklaneError {
  constructor(message: string, cause?: unknown) {
    super('PLUGIN_INVALID', message, { cause });
  }
}

export class StorageError extends TasklaneError {
  constructor(message: string, cause?: unknown) {
    super('STORAGE_ERROR', message, { cause });
  }
}

/**
 * An adapter was created whose database driver is not installed. The drivers are optional peer
 * dependencies: install the one the message names (`npm install pg@8`, `npm install better-sqlite3@12`).
 */
export class DriverMissingError extends TasklaneError {
  constructor(
    readonly adapter: string,
    readonly driver: string,
    range: string,
    cause?: unknown,
  ) {
    super('DRIVER_MISSING', `${adapter} needs the "${driver}" package, which is not installed: run \`npm install ${driver}@${range}\` in your application.`, {
      cause,
    });
  }
}
