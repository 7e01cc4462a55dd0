import { InvalidArgumentError, TaskAbortedError, TaskFailedError, TaskNotFinishedError, TaskNotFoundError } from '../../api/errors';
import type { OutputOf, TaskClass } from '../../api/task-definition';
import type { DefinitionInfo } from '../../api/task-options';
import {
  isFinished,
  type DefinitionStats,
  type ListLogsQuery,
  type ListRunsQuery,
  type Page,
  type RunLog,
  type RunStatus,
  type TaskRun,
  type RunId,
} from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type { RunStorage } from '../../ports/storage';
import type { Distribution } from '../../ports/distribution';
import { newRunId } from '../../util/ids';
import { promiseInto } from '../../util/promise-into';
import { checkDuration, LongTimeout } from '../../util/duration';
import { describeKind } from '../../util/safe-string';
import type { RunAborts } from '../abort/run-aborts';
import { RunWaiter, type RunWaiters } from '../completion/run-waiters';
import type { WaiterSweep } from '../completion/waiter-sweep';
import type { DefinitionRegistry } from '../definitions/definition-registry';
import type { DisabledDefinitions } from '../definitions/disabled-definitions';
import type { ActiveExecutions } from '../execution/active-executions';
import type { InlineFunction, InlineFunctions } from '../execution/inline-functions';
import { currentContext } from '../execution/run-context';
import type { EventBus, TaskEventListener, TaskEventName } from '../observation/event-bus';
import type { StatsTracker } from '../observation/stats-tracker';
import type { ResolvedOptions } from '../options';
import { toPublicRun } from '../public-run';
import type { EngineClock } from '../runtime/engine-clock';
import type { StorageGate } from '../runtime/storage-gate';
import type { PoolWake } from '../runtime/wake';
import type { WriteBatches } from '../runtime/write-batches';
import type { TransactionWatch } from '../trigger/transaction-watch';
import type { TriggerPipeline } from '../trigger/trigger-pipeline';
import type { TriggerOptions } from '../trigger/trigger-request';
import { readOptions } from '../validation/arguments';
import { isRunIdShape } from '../validation/identifiers';
import { inputSchemaOf, type JsonSchema } from '../validation/input-schema';
import { prepareContext } from '../validation/input-validator';
import { copyJsonData } from '../validation/json-data';
import { restartDefinition, type RestartResult } from './definition-restart';
import {
  ABORT_KEYS,
  checkCursor,
  checkLimit,
  couldBeDefinitionId,
  inlineName,
  LIST_DEFINITIONS_KEYS,
  LIST_LOGS_KEYS,
  LIST_RUNS_KEYS,
  LOG_CURSOR,
  RESTART_KEYS,
  WAIT_KEYS,
} from './service-arguments';

export type { RestartResult } from './definition-restart';

/** what the service reads, writes and delegates to */
export interface TaskServiceDeps {
  options: ResolvedOptions;
  clock: EngineClock;
  gate: StorageGate;
  storage: RunStorage;
  distribution: Distribution;
  registry: DefinitionRegistry;
  disabled: DisabledDefinitions;
  batches: WriteBatches;
  waiters: RunWaiters;
  waiterSweep: WaiterSweep;
  transactions: TransactionWatch;
  stats: StatsTracker;
  bus: EventBus;
  inline: InlineFunctions;
  active: ActiveExecutions;
  aborts: RunAborts;
  wake: PoolWake;
  pipeline: TriggerPipeline;
}

const STATUSES: readonly RunStatus[] = ['pending', 'running', 'success', 'failed', 'aborted'];
/** A typed trigger: with a task class, `input` must match the class's input type. */
export type TypedTriggerOptions<D> = Omit<TriggerOptions, 'definition' | 'input'> & {
  definition: D;
  input?: D extends TaskClass<infer I, unknown> ? I : unknown;
};

/** Triggering, observing and aborting runs. Obtained with `container.get(TaskService)`. */
export class TaskService {
  private readonly pipeline: TriggerPipeline;
  constructor(private readonly deps: TaskServiceDeps) {
    this.pipeline = deps.pipeline;
  }

  /** the new run, `pending` (or the unfinished run holding the same idempotency `key`) */
  trigger<D extends TaskClass>(options: TypedTriggerOptions<D>): Promise<TaskRun<OutputOf<D>>>;
  trigger(options: TriggerOptions & { definition: string }): Promise<TaskRun>;
  trigger(options: TriggerOptions): Promise<TaskRun> {
    return this.pipeline.trigger(options);
  }

  /**
   * Pending or parked runs end `aborted` at once; a running one sees isAborted() and its signal on
   * whichever node runs it. A finished run is returned unchanged. Unfinished children are aborted too.
   */
  async abort(options: { id: string; message?: string }): Promise<TaskRun> {
    const o = readOptions(options, ABORT_KEYS, 'abort()', '{ id, message? }');
    const id = this.knownId(o.id);
    if (o.message !== undefined && typeof o.message !== 'string')
      throw new InvalidArgumentError(`abort(): message must be a string, got ${describeKind(o.message)}`);
    const message = o.message === undefined ? 'aborted' : o.message.slice(0, 1000);
    await this.deps.gate.ready();
    return toPublicRun(await this.deps.aborts.abort(id, message));
  }

  async get(id: string): Promise<TaskRun | null> {
    if (typeof id !== 'string') throw new InvalidArgumentError('get() takes a run id (string)');
    if (!isRunIdShape(id)) return null;
    await this.deps.gate.ready();
    const run = await this.deps.storage.getRun(id);
    return run ? toPublicRun(run) : null;
  }

  /** the run once it ended (TaskTimeoutError after `timeout` ms); typed by trigger()'s definition given its run.id */
  wait<O = unknown>(id: RunId<O> | string, options: { timeout?: number } = {}): Promise<TaskRun<O>> {
    let runId: string;
    let timeout: number | undefined;
    try {
      runId = this.knownId(id);
      const o = options === undefined || options === null ? {} : readOptions(options, WAIT_KEYS, 'wait()', '{ timeout? }');
      // no timeout: wait as long as the run takes; Infinity is refused like any other non-finite value
      timeout = o.timeout === undefined ? undefined : checkDuration(o.timeout, 'wait(): timeout');
    } catch (err) {
      return Promise.reject(err);
    }
    if (!this.deps.gate.isReady) return this.deps.gate.ready().then(() => this.waitReady<O>(runId, timeout));
    return this.waitReady<O>(runId, timeout);
  }

  private waitReady<O>(runId: string, timeout: number | undefined): Promise<TaskRun<O>> {
    const deps = this.deps;
    const waiter = new RunWaiter(runId, deps.waiters);
    const promise = promiseInto(waiter) as Promise<TaskRun<O>>;
    // the waiter is registered before the read, so an end between the two is not missed
    deps.waiters.add(waiter);
    if (timeout !== undefined) waiter.timer = new LongTimeout(() => waiter.timedOut(timeout), timeout);
    // a run stored through a host transaction that has not ended yet is not readable: its waiters
    // are settled by its end, or with TaskNotFoundError once the transaction is seen rolled back
    if (!deps.transactions.has(runId)) deps.batches.reads.push(runId, waiter);
    deps.waiterSweep.watch();
    return promise;
  }

  /** its output when it succeeded; TaskFailedError / TaskAbortedError / TaskTimeoutError otherwise */
  async result<O = unknown>(id: RunId<O> | string, options: { timeout?: number } = {}): Promise<O> {
    const run = await this.wait<O>(id, options);
    if (run.status === 'success') return run.output as O;
    if (run.status === 'aborted') throw new TaskAbortedError(run.id, run.error?.message);
    throw new TaskFailedError(run.id, run.error);
  }

  async listRuns(query: ListRunsQuery = {}): Promise<Page<TaskRun>> {
    const q = readOptions(query, LIST_RUNS_KEYS, 'listRuns()', '{ definition?, status?, parentId?, tenant?, limit?, cursor? }');
    const statuses = q.status === undefined ? undefined : Array.isArray(q.status) ? [...(q.status as unknown[])] : [q.status];
    if (statuses?.some((s) => !STATUSES.includes(s as RunStatus))) throw new InvalidArgumentError(`status must be one of ${STATUSES.join(', ')}`);
    if (q.definition !== undefined && typeof q.definition !== 'string')
      throw new InvalidArgumentError(`listRuns(): definition must be a string, got ${describeKind(q.definition)}`);
    if (q.parentId !== undefined && typeof q.parentId !== 'string')
      throw new InvalidArgumentError(`listRuns(): parentId must be a string, got ${describeKind(q.parentId)}`);
    if (q.tenant !== undefined && typeof q.tenant !== 'string')
      throw new InvalidArgumentError(`listRuns(): tenant must be a string, got ${describeKind(q.tenant)}`);
    const limit = checkLimit(q.limit) ?? 50;
    const cursor = checkCursor(q.cursor);
    // a run id cursor (listRuns answers run ids): anything else was not returned by a previous call
    if (cursor !== undefined && cursor !== '' && !isRunIdShape(cursor))
      throw new InvalidArgumentError('listRuns(): cursor must be a string returned by a previous call');
    // filters no stored run can match (no definition id or run id holds such text) are an empty page
    if (q.definition !== undefined && !couldBeDefinitionId(q.definition)) return { items: [] };
    if (q.parentId !== undefined && !isRunIdShape(q.parentId)) return { items: [] };
    await this.deps.gate.ready();
    const page = await this.deps.storage.listRuns({
      definition: q.definition,
      status: statuses as RunStatus[] | undefined,
      parentId: q.parentId,
      tenant: q.tenant,
      limit,
      cursor,
    });
    return { items: page.items.map((r) => toPublicRun(r)), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  async listLogs(query: ListLogsQuery): Promise<Page<RunLog>> {
    const q = readOptions(query, LIST_LOGS_KEYS, 'listLogs()', '{ runId, limit?, cursor? }');
    if (typeof q.runId !== 'string') throw new InvalidArgumentError(`listLogs(): runId is required (a string), got ${describeKind(q.runId)}`);
    const limit = checkLimit(q.limit) ?? 50;
    const cursor = checkCursor(q.cursor);
    if (cursor !== undefined && cursor !== '' && !LOG_CURSOR.test(cursor))
      throw new InvalidArgumentError('listLogs(): cursor must be a string returned by a previous call');
    if (!isRunIdShape(q.runId)) return { items: [] }; // no run has such an id
    await this.deps.gate.ready();
    return this.deps.storage.listLogs({ runId: q.runId, limit, cursor });
  }

  async listDefinitions(options: { includePrivate?: boolean } = {}): Promise<DefinitionInfo[]> {
    const o = options === undefined || options === null ? {} : readOptions(options, LIST_DEFINITIONS_KEYS, 'listDefinitions()', '{ includePrivate? }');
    if (o.includePrivate !== undefined && typeof o.includePrivate !== 'boolean')
      throw new InvalidArgumentError(`listDefinitions(): includePrivate must be a boolean, got ${describeKind(o.includePrivate)}`);
    const disabled = await this.deps.disabled.ids(0);
    return this.deps.registry
      .all()
      .filter((def) => o.includePrivate === true || !def.isPrivate)
      .map((def) => this.deps.registry.info(def, disabled.has(def.id)));
  }

  /** runs `fn` on this node's pool as a short-lived run (definition id `inline`); resolves with its result */
  async runInline<R>(fn: (input: unknown, signal: AbortSignal) => R | Promise<R>, input?: unknown): Promise<R> {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`runInline() takes a function, got ${describeKind(fn)}`);
    const deps = this.deps;
    const limits = { maxInputBytes: deps.options.maxInputBytes, maxDepth: 64, maxKeys: deps.options.maxInputKeys };
    // the checks trigger() applies, to the input and to the captured context alike: a value that
    // cannot be stored is refused here, never in the grouped insert it shares with other triggers
    const plain = copyJsonData(input, limits, 'input');
    const context = prepareContext(currentContext(), limits);
    await deps.gate.ready();
    const now = deps.clock.now();
    const record: RunRecord = {
      id: newRunId(now),
      definitionId: 'inline',
      name: inlineName(fn),
      status: 'pending',
      input: plain,
      iterations: 0,
      attempt: 0,
      retries: 0,
      createdOn: deps.clock.isoOf(now),
      dueAt: now,
      targetNodeId: deps.options.nodeId,
      abortRequested: false,
      recoveries: 0,
      logCount: 0,
      iterationBase: 0,
    };
    if (context !== undefined) record.context = context;
    deps.inline.set(record.id, fn as InlineFunction);
    try {
      const { run } = await deps.batches.inserts.add(record);
      return await this.result<R>(run.id);
    } finally {
      deps.inline.delete(record.id);
    }
  }

  /**
   * A new run of a finished run's definition, triggered with the input the old run was triggered
   * with (not the input its `continue()` patches left), its context, its name and its own retry
   * policy, `retryOf` set to the old run's id. It goes through the whole trigger pipeline, as
   * `trigger()`: the input is validated against the definition's input class as it is now,
   * `maxBacklog` and `onBeforeTrigger` apply. Not carried over: the parent, the idempotency key,
   * `after`, the delay and a schedule tick (the new run is the caller's, not the schedule's).
   * Refused: `TaskNotFoundError` for an unknown run, `TaskNotFinishedError` for a run that has
   * not ended, `InvalidArgumentError` for an inline run (its function lived only in the call that
   * ran it), and whatever `trigger()` refuses (`UnknownTaskDefinitionError` when the definition
   * is not registered here, ...).
   */
  async retry(id: string): Promise<TaskRun> {
    const runId = this.knownId(id);
    await this.deps.gate.ready();
    const old = await this.deps.storage.getRun(runId);
    if (!old) throw new TaskNotFoundError(runId);
    if (!isFinished(old.status)) throw new TaskNotFinishedError(runId, old.status);
    if (old.definitionId === 'inline') {
      throw new InvalidArgumentError(`Run ${runId} ran an inline function (runInline), which lived only in the call that ran it: it cannot be retried.`);
    }
    return this.pipeline.trigger(
      {
        definition: old.definitionId,
        input: old.originalInput !== undefined ? old.originalInput : old.input,
        name: old.name,
        ...(old.context !== undefined ? { context: old.context } : {}),
        ...(old.retryPolicy !== undefined ? { retry: old.retryPolicy } : {}),
      },
      { retryOf: old.id },
    );
  }

  /**
   * Deletes a finished run with its logs and stored values, and its descendants (the runs it
   * triggered, theirs, ...) with theirs, in one atomic step, as Webiny cleans up child runs: a
   * child never outlives the record of its parent. `true` when deleted, `false` for an unknown
   * run; `TaskNotFinishedError` (nothing deleted) while the run, or any of its descendants, has
   * not ended: abort it (aborting a run aborts its children) or wait for it first. Runs retried
   * from it (`retryOf`) are not its descendants and are kept.
   */
  async delete(id: string): Promise<boolean> {
    if (typeof id !== 'string') throw new InvalidArgumentError('delete() takes a run id (string)');
    if (!isRunIdShape(id)) return false;
    await this.deps.gate.ready();
    const result = await this.deps.storage.deleteRun(id);
    if (result.kind === 'not_found') return false;
    if (result.kind === 'unfinished') {
      throw new TaskNotFinishedError(id, result.run.id === id ? result.run.status : `finished, but its descendant ${result.run.id} is ${result.run.status}`);
    }
    return true;
  }

  /**
   * The definition's locals (`controller.locals`), for operators: a null-prototype object of the
   * keys that are set, in key order. `UnknownTaskDefinitionError` for a definition not registered here.
   */
  async locals(definition: string | TaskClass): Promise<Record<string, unknown>> {
    const def = this.pipeline.resolveDefinition(definition);
    await this.deps.gate.ready();
    const out = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of await this.deps.storage.listLocals(def.id)) out[key] = value;
    return out;
  }

  /**
   * Restarts a definition (SkySpark's `taskRestart`), on every node of the cluster:
   * - its pending runs (waiting for a delay, an `after`, a retry, or a slot) end `aborted` with
   *   `message` (default `restarted`) and `onAbort` is called for each, as `abort()` does; runs
   *   parked between iterations too;
   * - its running runs are aborted: they see `isAborted()` and their signal, and end at their next
   *   checkpoint (the normal abort path); their writes to the locals are refused from now on;
   * - its stats (`evalNum`, `errNum`, `retryNum`, `queuePeak`, times, `lastError`) start again
   *   from zero on this node and, through the distribution, on the others;
   * - its locals are cleared.
   * The unfinished children of the runs it aborts are aborted too, as with `abort()`.
   *
   * The cut-off: runs whose id is below one made when the call begins are restarted; a run
   * triggered after `restart()` has returned is not affected. A trigger racing with the call (made
   * before it began on another node, stored after its sweep) cannot escape: storage records the
   * cut-off first, and a run below it is handed to its node with its abort requested, so it ends
   * `aborted` without running.
   */
  async restart(definition: string | TaskClass, options: { message?: string } = {}): Promise<RestartResult> {
    const def = this.pipeline.resolveDefinition(definition);
    const o = options === undefined ? {} : readOptions(options, RESTART_KEYS, 'restart()', '{ message? }');
    if (o.message !== undefined && typeof o.message !== 'string')
      throw new InvalidArgumentError(`restart(): message must be a string, got ${describeKind(o.message)}`);
    const message = o.message === undefined ? 'restarted' : o.message.slice(0, 1000);
    return restartDefinition(this.deps, def.id, message);
  }

  /** one row per definition */
  async stats(): Promise<DefinitionStats[]> {
    await this.deps.gate.ready();
    const [pending, disabled] = await Promise.all([this.deps.storage.countPending(), this.deps.disabled.ids(0)]);
    const running = this.deps.active.perDefinition();
    return this.deps.registry.all().map((def) => {
      const queue = pending.get(def.id) ?? 0;
      const status = def.fault ? 'fault' : disabled.has(def.id) ? 'disabled' : running.get(def.id) ? 'running' : queue > 0 ? 'pending' : 'idle';
      return this.deps.stats.row(def.id, status, queue);
    });
  }

  /** a disabled definition accepts triggers but runs nothing until enabled */
  async disable(id: string): Promise<void> {
    const def = this.pipeline.resolveDefinition(id);
    await this.deps.gate.ready();
    await this.deps.storage.setDefinitionDisabled(def.id, true);
    this.deps.disabled.invalidate();
  }

  async enable(id: string): Promise<void> {
    const def = this.pipeline.resolveDefinition(id);
    await this.deps.gate.ready();
    await this.deps.storage.setDefinitionDisabled(def.id, false);
    this.deps.disabled.invalidate();
    this.deps.wake.pump();
  }

  /**
   * The JSON Schema of the definition's input class (a form can be rendered from it), or null when
   * the definition takes no input. Derived from its class-validator metadata (see inputSchemaOf);
   * UnknownTaskDefinitionError for an unknown definition.
   */
  describeInput(definition: string | TaskClass): JsonSchema | null {
    const def = this.pipeline.resolveDefinition(definition);
    return def.inputClass ? inputSchemaOf(def.inputClass) : null;
  }

  /** listens to run events; returns a function that removes the listener */
  on<E extends TaskEventName>(event: E, listener: TaskEventListener<E>): () => void {
    return this.deps.bus.on(event, listener);
  }

  off<E extends TaskEventName>(event: E, listener: TaskEventListener<E>): void {
    this.deps.bus.off(event, listener);
  }

  private knownId(id: unknown): string {
    if (typeof id !== 'string') throw new InvalidArgumentError(`a run id must be a string, got ${describeKind(id)}`);
    if (!isRunIdShape(id)) throw new TaskNotFoundError(id);
    return id;
  }
}
