/** tasklane: the public surface. */
import 'reflect-metadata';

export * from './api/errors';
export * from './api/types';
export type { TaskOptions, ScheduleOptions, DefinitionInfo, InputClass } from './api/task-options';
export type { RetryPolicy, RetryBackoff } from './api/retry-policy';
export type {
  TaskController,
  TaskRunParams,
  TaskResponse,
  TaskResponses,
  TaskRuntime,
  TaskLog,
  TaskStore,
  TaskLocals,
  ErrorAnswerOptions,
  ChildTriggerOptions,
} from './api/controller';
export { TaskDefinition } from './api/task-definition';
export type { BeforeTriggerParams, TaskClass, InputOf, OutputOf, CreateImplementationOptions } from './api/task-definition';
export { Task } from './api/task-decorator';

export { TOKENS } from './ports/tokens';
export type {
  RunStorage,
  StorageCapabilities,
  ClaimRequest,
  ClaimSlot,
  IterationUpdate,
  UpdateResult,
  AbortResult,
  EndedRuns,
  DeleteRunResult,
  LocalEntry,
  LocalWrite,
  LocalWriteResult,
  AbortRunsRequest,
  AbortRunsResult,
} from './ports/storage';
export type { Distribution, DistributionHost, DistributionCapabilities, NodeDescriptor, RunnableNotice, FinishedNotice } from './ports/distribution';
export type { Scheduler, ScheduledJob } from './ports/scheduler';
export type { Clock } from './ports/clock';
export type { RunRecord } from './ports/run-record';
export type { HostTransaction, PostgresTransaction, SqliteTransaction, TransactionSession, TransactionOutcome, MaybePromise } from './ports/transaction';

export { tasklane, registerTasks } from './composition/tasklane-module';
export type { TasklaneOptions } from './core/options';
export { TaskService } from './core/service/task-service';
export type { TypedTriggerOptions, RestartResult } from './core/service/task-service';
export type { JsonSchema } from './core/validation/input-schema';
export type { TriggerOptions } from './core/trigger/trigger-request';
export { TaskEngine } from './core/service/task-engine';
export type { EngineState, StopOptions } from './core/service/task-engine';
export type { TaskEvents, TaskEventName, TaskEventListener } from './core/observation/event-bus';
export { runWithContext, currentContext } from './core/execution/run-context';

export { memoryStorage, MemoryStorage, type MemoryStorageOptions } from './adapters/memory/memory-storage';
export { sqliteStorage, SqliteStorage } from './adapters/sqlite/sqlite-storage';
export { postgresStorage, PostgresStorage } from './adapters/postgres/postgres-storage';
export { postgresDistribution, PostgresDistribution } from './adapters/postgres/postgres-distribution';
export { pgAdmin } from './adapters/postgres';
export { localDistribution, LocalDistribution } from './adapters/local/local-distribution';
export { cronScheduler, CronScheduler } from './adapters/cron/cron-scheduler';

export {
  loadPlugins,
  definePlugin,
  type TasklanePlugin,
  type PluginLoadReport,
  type LoadedPlugin,
  type FailedPlugin,
  type LoadPluginsOptions,
} from './plugins';
