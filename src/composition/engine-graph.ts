import type { Logger } from 'winston';
import { TaskNotFoundError } from '../api/errors';
import type { Clock } from '../ports/clock';
import type { Distribution } from '../ports/distribution';
import type { Scheduler } from '../ports/scheduler';
import type { RunStorage } from '../ports/storage';
import { errorFields } from '../util/safe-string';
import { RunAborts } from '../core/abort/run-aborts';
import { RunFinisher } from '../core/completion/run-finisher';
import { RunWaiters } from '../core/completion/run-waiters';
import { WaiterSweep } from '../core/completion/waiter-sweep';
import type { DefinitionRegistry } from '../core/definitions/definition-registry';
import { DisabledDefinitions } from '../core/definitions/disabled-definitions';
import { ActiveExecutions } from '../core/execution/active-executions';
import { InlineFunctions } from '../core/execution/inline-functions';
import { IterationOutcomes } from '../core/execution/iteration-outcomes';
import { RunExecutor } from '../core/execution/run-executor';
import { WorkerPool } from '../core/execution/worker-pool';
import { ObserverSet } from '../core/observation/engine-observer';
import { EventBus } from '../core/observation/event-bus';
import { EventRelay } from '../core/observation/event-relay';
import { StatsTracker } from '../core/observation/stats-tracker';
import type { ResolvedOptions } from '../core/options';
import { EngineClock } from '../core/runtime/engine-clock';
import { RunLog } from '../core/runtime/run-log';
import { StorageGate } from '../core/runtime/storage-gate';
import { PoolWake } from '../core/runtime/wake';
import { WriteBatches } from '../core/runtime/write-batches';
import { TaskEngine } from '../core/service/task-engine';
import { TaskService } from '../core/service/task-service';
import { BacklogLimiter } from '../core/trigger/backlog-limiter';
import { RunSubmission } from '../core/trigger/run-submission';
import { TransactionWatch } from '../core/trigger/transaction-watch';
import { TriggerPipeline } from '../core/trigger/trigger-pipeline';

/** The adapters and settings one node's engine is built from. */
export interface EnginePorts {
  options: ResolvedOptions;
  storage: RunStorage;
  distribution: Distribution;
  scheduler: Scheduler;
  logger: Logger;
  clock: Clock;
  registry: DefinitionRegistry;
}

/** One node's engine: every part, each made once and given what it uses in its constructor. */
export type EngineGraph = ReturnType<typeof buildEngine>;

/**
 * Builds the engine of one node. The parts are made in the order of their dependencies: shared
 * state and the ports between parts first (the pool's wake-up, the observers, the runs executing
 * here), then the stages from storage up (writes, trigger, completion, aborts, execution), then
 * the service and the lifecycle. No part is told of another after construction.
 */
export function buildEngine(ports: EnginePorts) {
  const { options, storage, distribution, scheduler, logger, registry } = ports;
  const clock = new EngineClock(ports.clock, logger, options.nodeId);
  const gate = new StorageGate(storage);
  const bus = new EventBus(logger);
  const stats = new StatsTracker();
  const observers = new ObserverSet((err) => logger.error('tasklane: an engine observer threw; ignored', errorFields(err)));
  const waiters = new RunWaiters();
  const inline = new InlineFunctions();
  const active = new ActiveExecutions();
  const wake = new PoolWake();
  /** maxBacklog: the pending counts of the definitions that set one */
  const backlog = new BacklogLimiter({ ready: () => gate.whenOpen(), countPending: () => storage.countPending() }, logger);
  const submission = new RunSubmission({ storage, gate, backlog, stats, bus, observers, distribution, logger });
  const batches = new WriteBatches(storage, gate, logger, (runs) => submission.insert(runs));
  /** runs stored through host transactions that this node has not seen end yet */
  const transactions = new TransactionWatch({
    storage,
    committed: (runs, woken) => {
      submission.committedInTransaction(runs, woken);
      // a wait() begun before the commit was seen made no read: the run may have ended since
      for (const run of runs) {
        if (!waiters.has(run.id)) continue;
        batches.reads.add(run.id).then(
          (ended) => {
            if (ended) waiters.resolve(ended);
          },
          () => undefined, // the waiter sweep reads it again
        );
      }
    },
    rolledBack: (ids) => {
      for (const id of ids) waiters.fail(id, new TaskNotFoundError(id));
    },
    warn: (message, err) => logger.warn(message, errorFields(err)),
  });
  gate.listen({
    opened: () => transactions.resume(),
    closing: () => transactions.pause(),
    closed: () => backlog.invalidate(), // other processes may use the store while this one has it closed
  });
  const runLog = new RunLog(logger, batches.logs, clock);
  const finisher = new RunFinisher({ logger, logs: batches.logs, reads: batches.reads, stats, observers, bus, waiters, transactions, distribution, wake });
  const waiterSweep = new WaiterSweep(storage, gate, waiters, logger, options.pollMs, distribution, (runId) => finisher.isEnding(runId));
  /** live run events between the nodes of a cluster (management subscriptions) */
  const relay = new EventRelay({ distribution, bus, storage, logger });
  const disabled = new DisabledDefinitions(storage, gate);
  const aborts = new RunAborts({ storage, distribution, clock, registry, active, finisher, runLog, backlog, stats, observers, inline, logger });
  const pipeline = new TriggerPipeline({ options, clock, gate, storage, distribution, registry, backlog, batches, transactions });
  const executor = new RunExecutor({
    options,
    clock,
    storage,
    distribution,
    batches,
    outcomes: new IterationOutcomes(options, clock),
    finisher,
    aborts,
    runLog,
    bus,
    stats,
    observers,
    backlog,
    transactions,
    inline,
    logger,
    childTrigger: (opts, parent, aborted) => pipeline.child(opts, parent, aborted),
  });
  const pool = new WorkerPool({
    options,
    clock,
    gate,
    storage,
    distribution,
    registry,
    batches,
    backlog,
    stats,
    inline,
    active,
    aborts,
    wake,
    logger,
    executor,
  });
  const service = new TaskService({
    options,
    clock,
    gate,
    storage,
    distribution,
    registry,
    disabled,
    batches,
    waiters,
    waiterSweep,
    transactions,
    stats,
    bus,
    inline,
    active,
    aborts,
    wake,
    pipeline,
  });
  const engine = new TaskEngine({
    options,
    clock,
    gate,
    storage,
    distribution,
    scheduler,
    registry,
    batches,
    stats,
    relay,
    finisher,
    aborts,
    wake,
    logger,
    pool,
    pipeline,
  });
  return { options, storage, distribution, logger, bus, observers, relay, active, pool, pipeline, service, engine };
}
