import { hostname } from 'node:os';
import { ContainerModule, type Container } from 'inversify';
import type { Logger } from 'winston';
import { InvalidArgumentError, InvalidStateError } from '../api/errors';
import type { TaskClass, TaskDefinition } from '../api/task-definition';
import { getTaskDependencies } from '../api/task-metadata';
import { systemClock, type Clock } from '../ports/clock';
import type { Distribution } from '../ports/distribution';
import type { Scheduler } from '../ports/scheduler';
import type { RunStorage } from '../ports/storage';
import { TOKENS } from '../ports/tokens';
import { cronScheduler } from '../adapters/cron/cron-scheduler';
import { localDistribution } from '../adapters/local/local-distribution';
import { memoryStorage } from '../adapters/memory/memory-storage';
import { optionalDuration } from '../util/duration';
import { checkAcceptRules } from '../core/definitions/accept-rules';
import { defaultLogger } from '../core/default-logger';
import { DEFAULT_MAX_BYTES, DefinitionRegistry, type RegisteredDefinition } from '../core/definitions/definition-registry';
import type { ResolvedOptions, TasklaneOptions } from '../core/options';
import { RunExecutor } from '../core/execution/run-executor';
import { DEFAULT_MAX_INPUT_KEYS } from '../core/validation/input-validator';
import { Runtime } from '../core/runtime/runtime';
import { TaskEngine } from '../core/service/task-engine';
import { TaskService } from '../core/service/task-service';
import { TriggerPipeline } from '../core/trigger/trigger-pipeline';
import { WorkerPool } from '../core/execution/worker-pool';

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

function resolveOptions(options: TasklaneOptions): ResolvedOptions {
  if (options.nodeId !== undefined && (typeof options.nodeId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(options.nodeId))) {
    throw new InvalidArgumentError('tasklane(): nodeId must be 1-128 characters of [A-Za-z0-9._:-]');
  }
  const concurrency = positiveInteger(options.concurrency, 'concurrency', 50);
  const maxBacklog = options.maxBacklog;
  if (maxBacklog !== undefined && (typeof maxBacklog !== 'number' || !Number.isInteger(maxBacklog) || maxBacklog < 1)) {
    throw new InvalidArgumentError(`tasklane(): maxBacklog must be a positive integer, got ${typeof maxBacklog === 'number' ? maxBacklog : typeof maxBacklog}`);
  }
  return {
    nodeId: options.nodeId ?? `${hostname().replace(/[^A-Za-z0-9._:-]/g, '_').slice(0, 100)}-${process.pid}`,
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

/**
 * The container module that binds the engine, TaskService and the adapters. With no options it
 * uses in-memory storage and local distribution. The adapters are read from TOKENS.* when first
 * needed, so rebinding a token after loading this module swaps the adapter.
 */
export function tasklane(options: TasklaneOptions = {}): ContainerModule {
  const resolved = resolveOptions(options ?? {});
  return new ContainerModule(({ bind }) => {
    bind<ResolvedOptions>(TOKENS.Options).toConstantValue(resolved);
    bind<RunStorage>(TOKENS.Storage).toConstantValue(options.storage ?? memoryStorage());
    bind<Distribution>(TOKENS.Distribution).toConstantValue(options.distribution ?? localDistribution());
    bind<Scheduler>(TOKENS.Scheduler).toConstantValue(options.scheduler ?? cronScheduler());
    bind<Logger>(TOKENS.Logger).toConstantValue(options.logger ?? defaultLogger());
    bind<Clock>(TOKENS.Clock).toConstantValue(options.clock ?? systemClock);
    bind(DefinitionRegistry)
      .toDynamicValue((ctx) => new DefinitionRegistry(ctx.get<Scheduler>(TOKENS.Scheduler), ctx.get<Logger>(TOKENS.Logger), resolved))
      .inSingletonScope();
    bind(Runtime)
      .toDynamicValue(
        (ctx) =>
          new Runtime(
            ctx.get<ResolvedOptions>(TOKENS.Options),
            ctx.get<RunStorage>(TOKENS.Storage),
            ctx.get<Distribution>(TOKENS.Distribution),
            ctx.get<Scheduler>(TOKENS.Scheduler),
            ctx.get<Logger>(TOKENS.Logger),
            ctx.get<Clock>(TOKENS.Clock),
            ctx.get(DefinitionRegistry),
          ),
      )
      .inSingletonScope();
    bind(TriggerPipeline).toDynamicValue((ctx) => new TriggerPipeline(ctx.get(Runtime))).inSingletonScope();
    bind(WorkerPool)
      .toDynamicValue((ctx) => {
        const pipeline = ctx.get(TriggerPipeline);
        const executor = new RunExecutor(ctx.get(Runtime), (opts, parent, aborted) => pipeline.child(opts, parent, aborted));
        return new WorkerPool(ctx.get(Runtime), executor);
      })
      .inSingletonScope();
    bind(TaskService).toDynamicValue((ctx) => new TaskService(ctx.get(Runtime), ctx.get(TriggerPipeline), ctx.get(WorkerPool))).inSingletonScope();
    bind(TaskEngine).toDynamicValue((ctx) => new TaskEngine(ctx.get(Runtime), ctx.get(WorkerPool), ctx.get(TriggerPipeline))).inSingletonScope();
  });
}

/**
 * Binds task classes in the container (their services are injected) and registers them.
 * A duplicate id throws; a broken definition is registered in the `fault` state and logged.
 */
export function registerTasks(container: Container, classes: TaskClass[]): RegisteredDefinition[] {
  if (!container.isBound(DefinitionRegistry)) {
    throw new InvalidStateError('registerTasks(): load tasklane({...}) into the container first');
  }
  if (!Array.isArray(classes)) throw new InvalidArgumentError('registerTasks() takes an array of task classes');
  const registry = container.get(DefinitionRegistry);
  return classes.map((cls) => {
    if (typeof cls !== 'function') throw new InvalidArgumentError('registerTasks(): every entry must be a task class');
    if (!container.isBound(cls)) {
      const deps = getTaskDependencies(cls);
      if (deps) {
        bind(container, cls, deps);
      } else {
        container.bind(cls).toSelf();
      }
    }
    return registry.register(cls, () => container.get<TaskDefinition<unknown, unknown>>(cls));
  });
}

function bind(container: Container, cls: TaskClass, deps: unknown[]): void {
  container
    .bind(cls)
    .toDynamicValue((ctx) => new cls(...deps.map((d) => ctx.get(d as symbol))));
}
