/**
 * run-retention: a scheduled task that deletes finished runs (with their logs and stored values)
 * older than a configured age, in batches, so that storage does not grow forever.
 *
 *   import runRetention, { runRetentionPlugin } from './plugins/run-retention';
 *   // the folder's default export: 7 days, every 10 minutes, batches of 500
 *   // or configured: runRetentionPlugin({ maxAgeMs: 24 * 3600_000, cron: '0 0 * * * *' })
 *
 * Only `success`, `failed` and `aborted` runs whose `finishedOn` is older than the cutoff are
 * deleted; pending and running runs are never touched. One run deletes batch after batch; when a
 * batch was full and the iteration is close to its timeout (or ran `maxBatchesPerIteration`
 * batches), it answers `continue()` so the run checkpoints and yields the worker. The cutoff is
 * fixed at the first iteration, so every iteration deletes from the same set.
 */
import 'reflect-metadata';
import { ContainerModule } from 'inversify';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import {
  InvalidArgumentError,
  TaskDefinition,
  TOKENS,
  definePlugin,
  type Clock,
  type RunStorage,
  type TaskResponse,
  type TaskRunParams,
  type TasklanePlugin,
} from '../../src';

export const RUN_RETENTION_TASK_ID = 'tasklane.retention';

/** The container token under which the plugin binds its resolved options. */
export const RUN_RETENTION_OPTIONS = Symbol.for('tasklane.plugins.run-retention.options');

export interface RunRetentionOptions {
  /** finished runs older than this are deleted (default 7 days) */
  maxAgeMs?: number;
  /** when the task runs (node-cron, 6 fields with seconds; default every 10 minutes) */
  cron?: string;
  /** IANA time zone of `cron` (default: the process's) */
  timezone?: string;
  /** runs deleted per storage call (default 500) */
  batchSize?: number;
  /** batches per iteration before the run checkpoints with continue() (default 100) */
  maxBatchesPerIteration?: number;
}

export interface ResolvedRunRetentionOptions {
  maxAgeMs: number;
  cron: string;
  timezone?: string;
  batchSize: number;
  maxBatchesPerIteration: number;
}

export const RUN_RETENTION_DEFAULTS: Readonly<ResolvedRunRetentionOptions> = Object.freeze({
  maxAgeMs: 7 * 24 * 3600_000,
  cron: '0 */10 * * * *',
  batchSize: 500,
  maxBatchesPerIteration: 100,
});

/** Optional input of a manual trigger: overrides the configured age or batch size for that run. */
export class RunRetentionInput {
  @IsOptional() @IsInt() @Min(0) maxAgeMs?: number;
  @IsOptional() @IsInt() @Min(1) @Max(10_000) batchSize?: number;
}

export interface RunRetentionOutput {
  /** runs deleted by this run (over all its iterations) */
  deleted: number;
  /** ISO cutoff: runs finished before it were deleted */
  before: string;
  batches: number;
}

interface RetentionState {
  before: string;
  deleted: number;
  batches: number;
}

const STATE_KEY = 'retention';

/**
 * The retention task. Its dependencies are the engine's storage and clock and the plugin's
 * options; `runRetentionPlugin()` registers a configured subclass of it.
 */
export class RunRetentionTask implements TaskDefinition<RunRetentionInput, RunRetentionOutput> {
  constructor(
    private readonly storage: RunStorage,
    private readonly options: ResolvedRunRetentionOptions,
    private readonly clock: Clock,
  ) {}

  async run({ input, controller }: TaskRunParams<RunRetentionInput, RunRetentionOutput>): Promise<TaskResponse<RunRetentionOutput>> {
    const batchSize = input?.batchSize ?? this.options.batchSize;
    let state = await controller.store.get<RetentionState>(STATE_KEY);
    if (!state) {
      const maxAgeMs = input?.maxAgeMs ?? this.options.maxAgeMs;
      state = { before: new Date(this.clock.now() - maxAgeMs).toISOString(), deleted: 0, batches: 0 };
      await controller.store.set(STATE_KEY, state);
      controller.log.info(`deleting runs finished before ${state.before}`, { before: state.before, batchSize });
    }
    for (let batchesHere = 1; ; batchesHere++) {
      if (controller.runtime.isAborted()) {
        await controller.store.set(STATE_KEY, state);
        controller.log.warn(`aborted after deleting ${state.deleted} run(s)`, { deleted: state.deleted });
        return controller.response.aborted();
      }
      const count = await this.storage.deleteFinishedBefore(state.before, batchSize);
      state = { ...state, deleted: state.deleted + count, batches: state.batches + 1 };
      controller.progress({ info: `${state.deleted} run(s) deleted (finished before ${state.before})`, current: state.deleted });
      if (count < batchSize) {
        controller.log.info(`deleted ${state.deleted} finished run(s) older than ${state.before}`, { deleted: state.deleted, batches: state.batches });
        return controller.response.done({ deleted: state.deleted, before: state.before, batches: state.batches });
      }
      if (controller.runtime.isCloseToTimeout() || batchesHere >= this.options.maxBatchesPerIteration) {
        await controller.store.set(STATE_KEY, state);
        return controller.response.continue();
      }
      // let other work (and other writers of the store) in between two batches
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}

function checkInt(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`runRetentionPlugin(): ${name} must be an integer between ${min} and ${max}`);
  }
  return value;
}

export function resolveRunRetentionOptions(options: RunRetentionOptions = {}): ResolvedRunRetentionOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('runRetentionPlugin() takes an options object');
  const d = RUN_RETENTION_DEFAULTS;
  const cron = options.cron ?? d.cron;
  if (typeof cron !== 'string' || cron.trim() === '') throw new InvalidArgumentError('runRetentionPlugin(): cron must be a cron expression');
  if (options.timezone !== undefined && typeof options.timezone !== 'string') throw new InvalidArgumentError('runRetentionPlugin(): timezone must be a string');
  return {
    maxAgeMs: options.maxAgeMs === undefined ? d.maxAgeMs : checkInt(options.maxAgeMs, 'maxAgeMs', 0, Number.MAX_SAFE_INTEGER),
    cron,
    ...(options.timezone !== undefined ? { timezone: options.timezone } : {}),
    batchSize: options.batchSize === undefined ? d.batchSize : checkInt(options.batchSize, 'batchSize', 1, 10_000),
    maxBatchesPerIteration:
      options.maxBatchesPerIteration === undefined
        ? d.maxBatchesPerIteration
        : checkInt(options.maxBatchesPerIteration, 'maxBatchesPerIteration', 1, 1_000_000),
  };
}

/**
 * The plugin, configured. Its ContainerModule binds the options under RUN_RETENTION_OPTIONS; the
 * task gets them injected with TOKENS.Storage and TOKENS.Clock. The cron expression is checked when
 * the task is registered: a malformed one puts `tasklane.retention` in the `fault` state.
 */
export function runRetentionPlugin(options: RunRetentionOptions = {}): TasklanePlugin {
  const resolved = resolveRunRetentionOptions(options);
  // a class per configuration: the schedule is part of the task's metadata
  class ConfiguredRunRetentionTask extends RunRetentionTask {}
  const task = TaskDefinition.createImplementation<RunRetentionInput, RunRetentionOutput>({
    implementation: ConfiguredRunRetentionTask,
    dependencies: [TOKENS.Storage, RUN_RETENTION_OPTIONS, TOKENS.Clock],
    meta: {
      id: RUN_RETENTION_TASK_ID,
      title: 'Delete old finished runs',
      description: `Deletes finished runs and their logs older than ${Math.round(resolved.maxAgeMs / 60_000)} min, ${resolved.batchSize} at a time`,
      input: RunRetentionInput,
      isPrivate: false,
      concurrency: 1,
      maxIterations: 1000,
      iterationTimeout: 5 * 60_000,
      schedule: { cron: resolved.cron, ...(resolved.timezone ? { timezone: resolved.timezone } : {}) },
    },
  });
  const module = new ContainerModule(({ bind }) => {
    bind<ResolvedRunRetentionOptions>(RUN_RETENTION_OPTIONS).toConstantValue(Object.freeze({ ...resolved }));
  });
  return definePlugin({ name: 'run-retention', module, tasks: [task] });
}

const plugin: TasklanePlugin = runRetentionPlugin();
export default plugin;
