import type { Logger } from 'winston';
import type { TaskClass, TaskDefinition } from '../../api/task-definition';
import type { DefinitionInfo, TaskOptions } from '../../api/task-options';
import { DuplicateTaskDefinitionError, TaskDefinitionError, TasklaneError } from '../../api/errors';
import type { RetryPolicy } from '../../api/retry-policy';
import { getTaskOptions } from '../../api/task-metadata';
import type { Scheduler } from '../../ports/scheduler';
import { assertTaskId } from '../validation/identifiers';
import { isInputClass, validateInput } from '../validation/input-validator';
import type { InputLimits } from '../validation/json-data';
import { optionalDuration, parseDuration } from '../../util/duration';
import { errorMessage, safeString } from '../../util/safe-string';
import { checkRetryPolicy } from '../execution/retry-policy';

export const DEFAULT_MAX_ITERATIONS = 50;
export const DEFAULT_ITERATION_TIMEOUT = 15 * 60_000;
export const DEFAULT_MAX_LOGS_PER_RUN = 1000;
export const DEFAULT_MAX_CRASH_RECOVERIES = 3;
export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** the longest schedule.backfill: the engine looks back at most this far for missed ticks */
export const MAX_BACKFILL_MS = 24 * 3_600_000;

/** the limits a definition's input (a trigger's, a continue() patch's, a context) is checked against */
export function inputLimitsOf(def: RegisteredDefinition): InputLimits {
  return { maxInputBytes: def.maxInputBytes, maxDepth: 64, maxKeys: def.maxInputKeys };
}

/** A registered definition with its options normalised. `fault` ones run nothing. */
export interface RegisteredDefinition {
  id: string;
  cls: TaskClass;
  options: TaskOptions<unknown>;
  inputClass?: new () => object;
  maxIterations: number;
  iterationTimeout: number;
  concurrency?: number;
  /** the most pending runs; undefined = unlimited, and the trigger path never looks at a count */
  maxBacklog?: number;
  distributable: boolean;
  isPrivate: boolean;
  disableLogs: boolean;
  maxInputBytes: number;
  maxInputKeys: number;
  maxOutputBytes: number;
  maxLogsPerRun: number;
  maxCrashRecoveries: number;
  /** how a failed run is tried again (a run's own policy, given at its trigger, comes first) */
  retry?: RetryPolicy;
  /** schedule.backfill in ms (see ScheduleOptions.backfill) */
  backfillMs?: number;
  fault?: TasklaneError;
  /** resolves a task instance from the container it was registered with */
  create: () => TaskDefinition<unknown, unknown>;
}

function positiveInt(value: unknown, name: string, fallback: number | undefined): number | undefined {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TaskDefinitionError(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** a duration option of a definition (see checkDuration): from 1 ms to 10 years; a fault otherwise */
function durationOption(value: unknown, name: string, fallback: number): number {
  try {
    return optionalDuration(value, name, fallback, 1);
  } catch (err) {
    throw new TaskDefinitionError(errorMessage(err), 'DEFINITION_INVALID', err);
  }
}

function bool(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TaskDefinitionError(`${name} must be a boolean`);
  return value;
}

/**
 * The task definitions known to this node, keyed by id in a Map (user-named things never index a
 * plain object). Registration checks the metadata: a duplicate id throws; any other broken
 * configuration registers the definition in the `fault` state with its error, and it runs nothing.
 */
export class DefinitionRegistry {
  private readonly definitions = new Map<string, RegisteredDefinition>();
  private readonly byClass = new Map<unknown, RegisteredDefinition>();
  /** told of each registration (the engine schedules late-registered definitions) */
  private readonly listeners: Array<(def: RegisteredDefinition) => void> = [];

  constructor(
    private readonly scheduler: Scheduler,
    private readonly logger: Logger,
    private readonly defaults: { maxInputBytes: number; maxInputKeys: number; maxOutputBytes: number; maxBacklog?: number },
  ) {}

  register(cls: TaskClass, create: () => TaskDefinition<unknown, unknown>): RegisteredDefinition {
    const options = getTaskOptions(cls);
    if (!options || typeof options !== 'object') {
      throw new TaskDefinitionError(`${safeString(cls, 128)} is not a task: decorate it with @Task({...}) or use TaskDefinition.createImplementation()`);
    }
    const rawId = (options as { id?: unknown }).id;
    const id = typeof rawId === 'string' ? rawId : safeString(rawId, 200);
    if (this.definitions.has(id)) throw new DuplicateTaskDefinitionError(id);
    if (this.byClass.has(cls)) throw new DuplicateTaskDefinitionError(id);

    let def: RegisteredDefinition;
    try {
      def = this.normalise(cls, options, create);
    } catch (err) {
      const fault = TasklaneError.is(err) ? err : new TaskDefinitionError(errorMessage(err), 'DEFINITION_INVALID', err);
      def = {
        id,
        cls,
        options,
        maxIterations: DEFAULT_MAX_ITERATIONS,
        iterationTimeout: DEFAULT_ITERATION_TIMEOUT,
        distributable: true,
        isPrivate: Boolean(options.isPrivate),
        disableLogs: true,
        maxInputBytes: this.defaults.maxInputBytes,
        maxInputKeys: this.defaults.maxInputKeys,
        maxOutputBytes: this.defaults.maxOutputBytes,
        maxLogsPerRun: DEFAULT_MAX_LOGS_PER_RUN,
        maxCrashRecoveries: DEFAULT_MAX_CRASH_RECOVERIES,
        fault,
        create,
      };
      this.logger.error(`tasklane: task definition "${id.slice(0, 128)}" is in the fault state: ${fault.message}`, { definitionId: id, code: fault.code });
    }
    this.definitions.set(id, def);
    this.byClass.set(cls, def);
    for (const listener of this.listeners) listener(def);
    return def;
  }

  /** `listener` is told of every definition registered from now on */
  onRegistered(listener: (def: RegisteredDefinition) => void): void {
    this.listeners.push(listener);
  }

  private normalise(cls: TaskClass, options: TaskOptions<unknown>, create: () => TaskDefinition<unknown, unknown>): RegisteredDefinition {
    const id = assertTaskId(options.id);
    if (typeof options.title !== 'string' || options.title.trim() === '') throw new TaskDefinitionError(`"${id}": title is required`);
    if (options.description !== undefined && typeof options.description !== 'string') throw new TaskDefinitionError(`"${id}": description must be a string`);
    if (typeof cls.prototype?.run !== 'function') throw new TaskDefinitionError(`"${id}": the class has no run() method`);
    if (options.input !== undefined && !isInputClass(options.input)) throw new TaskDefinitionError(`"${id}": input must be a class (a class-validator DTO)`);
    const maxInputBytes = positiveInt(options.maxInputBytes, 'maxInputBytes', this.defaults.maxInputBytes)!;
    const def: RegisteredDefinition = {
      id,
      cls,
      options,
      create,
      inputClass: options.input as (new () => object) | undefined,
      maxIterations: positiveInt(options.maxIterations, 'maxIterations', DEFAULT_MAX_ITERATIONS)!,
      iterationTimeout: durationOption(options.iterationTimeout, `"${id}": iterationTimeout`, DEFAULT_ITERATION_TIMEOUT),
      concurrency: positiveInt(options.concurrency, 'concurrency', undefined),
      maxBacklog: positiveInt(options.maxBacklog, 'maxBacklog', this.defaults.maxBacklog),
      distributable: bool(options.distributable, 'distributable', true),
      isPrivate: bool(options.isPrivate, 'isPrivate', false),
      disableLogs: bool(options.disableLogs, 'disableLogs', false),
      maxInputBytes,
      maxInputKeys: positiveInt(options.maxInputKeys, 'maxInputKeys', this.defaults.maxInputKeys)!,
      maxOutputBytes: positiveInt(options.maxOutputBytes, 'maxOutputBytes', this.defaults.maxOutputBytes)!,
      maxLogsPerRun: positiveInt(options.maxLogsPerRun, 'maxLogsPerRun', DEFAULT_MAX_LOGS_PER_RUN)!,
      maxCrashRecoveries: positiveInt(options.maxCrashRecoveries, 'maxCrashRecoveries', DEFAULT_MAX_CRASH_RECOVERIES)!,
    };
    if (options.retry !== undefined) {
      try {
        def.retry = checkRetryPolicy(options.retry, 'retry');
      } catch (err) {
        throw new TaskDefinitionError(`"${id}": ${(err as Error).message}`);
      }
    }
    if (options.schedule !== undefined) {
      const schedule = options.schedule as unknown;
      if (typeof schedule !== 'object' || schedule === null) throw new TaskDefinitionError(`"${id}": schedule must be { cron, input? }`);
      const { cron, timezone, input, backfill } = schedule as { cron?: unknown; timezone?: unknown; input?: unknown; backfill?: unknown };
      if (typeof cron !== 'string') throw new TaskDefinitionError(`"${id}": schedule.cron must be a string`, 'CRON_INVALID');
      if (timezone !== undefined && typeof timezone !== 'string') throw new TaskDefinitionError(`"${id}": schedule.timezone must be a string`, 'CRON_INVALID');
      this.scheduler.validate(cron, timezone);
      if (backfill !== undefined) {
        try {
          def.backfillMs = parseDuration(backfill, 'schedule.backfill', MAX_BACKFILL_MS);
        } catch (err) {
          throw new TaskDefinitionError(`"${id}": ${errorMessage(err)}`, 'DEFINITION_INVALID', err);
        }
      }
      // the scheduled input must pass the same validation as any trigger, or no tick could ever run
      validateInput(def.inputClass, input, inputLimitsOf(def));
    }
    return def;
  }

  get(id: string): RegisteredDefinition | undefined {
    return this.definitions.get(id);
  }

  getByClass(cls: unknown): RegisteredDefinition | undefined {
    return this.byClass.get(cls);
  }

  all(): RegisteredDefinition[] {
    return [...this.definitions.values()];
  }

  info(def: RegisteredDefinition, disabled: boolean): DefinitionInfo {
    const info: DefinitionInfo = {
      id: def.id,
      title: typeof def.options.title === 'string' ? def.options.title : def.id,
      hasInput: def.inputClass !== undefined,
      maxIterations: def.maxIterations,
      iterationTimeout: def.iterationTimeout,
      distributable: def.distributable,
      isPrivate: def.isPrivate,
      disableLogs: def.disableLogs,
      state: def.fault ? 'fault' : disabled ? 'disabled' : 'enabled',
    };
    if (typeof def.options.description === 'string') info.description = def.options.description;
    if (def.concurrency !== undefined) info.concurrency = def.concurrency;
    if (def.maxBacklog !== undefined) info.maxBacklog = def.maxBacklog;
    if (def.retry !== undefined) info.retry = structuredClone(def.retry);
    if (def.options.schedule && typeof def.options.schedule.cron === 'string') {
      info.schedule = {
        cron: def.options.schedule.cron,
        ...(def.options.schedule.timezone ? { timezone: def.options.schedule.timezone } : {}),
        ...(def.backfillMs !== undefined ? { backfillMs: def.backfillMs } : {}),
      };
    }
    if (def.fault) info.faultReason = def.fault.message;
    return info;
  }
}
