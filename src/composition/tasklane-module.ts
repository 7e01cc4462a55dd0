import { ContainerModule, type Container, type ResolutionContext } from 'inversify';
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
import { defaultLogger } from '../core/default-logger';
import { DefinitionRegistry, type RegisteredDefinition } from '../core/definitions/definition-registry';
import { ActiveExecutions } from '../core/execution/active-executions';
import { WorkerPool } from '../core/execution/worker-pool';
import { ENGINE_ACCESS_PARTS, type EngineAccessParts } from '../core/observation/engine-access';
import { ObserverSet } from '../core/observation/engine-observer';
import { EventBus } from '../core/observation/event-bus';
import { EventRelay } from '../core/observation/event-relay';
import type { ResolvedOptions, TasklaneOptions } from '../core/options';
import { TaskEngine } from '../core/service/task-engine';
import { TaskService } from '../core/service/task-service';
import { TriggerPipeline } from '../core/trigger/trigger-pipeline';
import { buildEngine, type EngineGraph } from './engine-graph';
import { resolveOptions } from './resolve-options';

/** the container token of the node's engine, built once from the adapters bound at first use */
const ENGINE_GRAPH = Symbol.for('tasklane.EngineGraph');

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
    bind<EngineGraph>(ENGINE_GRAPH)
      .toDynamicValue((ctx) =>
        buildEngine({
          options: ctx.get<ResolvedOptions>(TOKENS.Options),
          storage: ctx.get<RunStorage>(TOKENS.Storage),
          distribution: ctx.get<Distribution>(TOKENS.Distribution),
          scheduler: ctx.get<Scheduler>(TOKENS.Scheduler),
          logger: ctx.get<Logger>(TOKENS.Logger),
          clock: ctx.get<Clock>(TOKENS.Clock),
          registry: ctx.get(DefinitionRegistry),
        }),
      )
      .inSingletonScope();
    const part =
      <K extends keyof EngineGraph>(key: K) =>
      (ctx: ResolutionContext) =>
        ctx.get<EngineGraph>(ENGINE_GRAPH)[key];
    bind(TaskService).toDynamicValue(part('service')).inSingletonScope();
    bind(TaskEngine).toDynamicValue(part('engine')).inSingletonScope();
    bind(TriggerPipeline).toDynamicValue(part('pipeline')).inSingletonScope();
    bind(WorkerPool).toDynamicValue(part('pool')).inSingletonScope();
    bind(EventBus).toDynamicValue(part('bus')).inSingletonScope();
    bind(ObserverSet).toDynamicValue(part('observers')).inSingletonScope();
    bind(EventRelay).toDynamicValue(part('relay')).inSingletonScope();
    bind(ActiveExecutions).toDynamicValue(part('active')).inSingletonScope();
    bind<EngineAccessParts>(ENGINE_ACCESS_PARTS)
      .toDynamicValue((ctx) => {
        const g = ctx.get<EngineGraph>(ENGINE_GRAPH);
        return {
          nodeId: g.options.nodeId,
          logger: g.logger,
          storage: g.storage,
          distribution: g.distribution,
          observers: g.observers,
          relay: g.relay,
          active: g.active,
          engine: g.engine,
        };
      })
      .inSingletonScope();
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
  container.bind(cls).toDynamicValue((ctx) => new cls(...deps.map((d) => ctx.get(d as symbol))));
}
