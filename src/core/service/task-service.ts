import {
  InvalidArgumentError,
  TaskAbortedError,
  TaskFailedError,
  TaskNotFinishedError,
  TaskNotFoundError,
} from '../../api/errors';
import type { OutputOf, TaskClass } from '../../api/task-definition';
import type { DefinitionInfo } from '../../api/task-options';
import { isFinished, type DefinitionStats, type ListLogsQuery, type ListRunsQuery, type Page, type RunLog, type RunStatus, type TaskRun } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type { AbortResult } from '../../ports/storage';
import { newRunId } from '../../util/ids';
import { promiseInto } from '../../util/promise-into';
import type { TaskEventListener, TaskEventName } from '../observation/event-bus';
import { toPublicRun } from '../public-run';
import { RunWaiter } from '../completion/run-waiters';
import { currentContext } from '../execution/run-context';
import type { InlineFunction, Runtime } from '../runtime/runtime';
import type { TriggerOptions, TriggerPipeline } from '../trigger/trigger-pipeline';
import { inputSchemaOf, type JsonSchema } from '../validation/input-schema';
import { assertRunName, isRunIdShape, TASK_ID_MAX_LENGTH, TASK_ID_PATTERN } from '../validation/identifiers';
import { readOptions } from '../validation/arguments';
import { copyJsonData, prepareContext } from '../validation/input-validator';
import { checkDuration, LongTimeout } from '../../util/duration';
import { describeKind, safeGet } from '../../util/safe-string';
import type { WorkerPool } from '../execution/worker-pool';
import { ABORT_MESSAGE_KEY } from '../execution/run-executor';

const STATUSES: readonly RunStatus[] = ['pending', 'running', 'success', 'failed', 'aborted'];
/** runs a restart changes per storage call */
const RESTART_PAGE = 200;
/**
 * restart() returns at least this long (engine time) after its cut-off: a run triggered after it
 * returned, on a node whose reading of the shared clock is this much behind, still gets a later id
 */
const RESTART_CLOCK_MARGIN_MS = 10;

/** What `TaskService.restart()` did. */
export interface RestartResult {
  definitionId: string;
  /** pending (or parked) runs that ended `aborted` at once, `onAbort` called for each */
  aborted: number;
  /** running runs whose abort was requested: they end at their next checkpoint (the normal abort path) */
  abortRequested: number;
  /** locals that were set and are now cleared */
  localsCleared: number;
}

/** A typed trigger: with a task class, `input` must match the class's input type. */
export type TypedTriggerOptions<D> = Omit<TriggerOptions, 'definition' | 'input'> & {
  definition: D;
  input?: D extends TaskClass<infer I, unknown> ? I : unknown;
};

function checkLimit(limit: unknown): number | undefined {
  if (limit === undefined) return undefined;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > 1000) {
    throw new InvalidArgumentError('limit must be an integer between 1 and 1000');
  }
  return limit;
}

const ABORT_KEYS: ReadonlySet<'id' | 'message'> = new Set(['id', 'message'] as const);
const RESTART_KEYS: ReadonlySet<'message'> = new Set(['message'] as const);
const WAIT_KEYS: ReadonlySet<'timeout'> = new Set(['timeout'] as const);
const LIST_RUNS_KEYS: ReadonlySet<keyof ListRunsQuery> = new Set<keyof ListRunsQuery>(['definition', 'status', 'parentId', 'limit', 'cursor']);
const LIST_LOGS_KEYS: ReadonlySet<keyof ListLogsQuery> = new Set<keyof ListLogsQuery>(['runId', 'limit', 'cursor']);
const LIST_DEFINITIONS_KEYS: ReadonlySet<'includePrivate'> = new Set(['includePrivate'] as const);
/** what listLogs answers as cursors (a line's sequence number) */
const LOG_CURSOR = /^\d{1,18}$/;

/** a string some registered definition, or runInline's `inline`, could have as its id */
function couldBeDefinitionId(id: string): boolean {
  return id.length <= TASK_ID_MAX_LENGTH && TASK_ID_PATTERN.test(id);
}

/** runInline's run name: the function's name when it is a valid run name, else `inline` */
function inlineName(fn: unknown): string {
  const name = safeGet(fn, 'name');
  if (typeof name !== 'string' || name === '') return 'inline';
  try {
    return assertRunName(name.slice(0, 128));
  } catch {
    return 'inline';
  }
}

function checkCursor(cursor: unknown): string | undefined {
  if (cursor === undefined) return undefined;
  if (typeof cursor !== 'string' || cursor.length > 512) throw new InvalidArgumentError('cursor must be a string returned by a previous call');
  return cursor;
}

/** Triggering, observing and aborting runs. Obtained with `container.get(TaskService)`. */
export class TaskService {
  constructor(
    private readonly rt: Runtime,
    private readonly pipeline: TriggerPipeline,
    private readonly pool: WorkerPool,
  ) {
    rt.abortChildrenOf = (parentId, message) => this.abortChildren(parentId, message, 0);
    rt.abortRun = async (id, message) => {
      await this.abortOne(id, message);
      await this.abortChildren(id, message, 0);
    };
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
    if (o.message !== undefined && typeof o.message !== 'string') throw new InvalidArgumentError(`abort(): message must be a string, got ${describeKind(o.message)}`);
    const message = o.message === undefined ? 'aborted' : o.message.slice(0, 1000);
    await this.rt.ready();
    const run = await this.abortOne(id, message, true);
    await this.abortChildren(id, message, 0);
    return toPublicRun(run);
  }

  /** `root`: the run abort() was called for (its descendants executing here see it at once) */
  private async abortOne(id: string, message: string, root = false): Promise<RunRecord> {
    const rt = this.rt;
    const result = await rt.storage.requestAbort(id, message, rt.nowIso());
    if (result.kind === 'not_found') throw new TaskNotFoundError(id);
    // Its abort is stored: the runs executing here that descend from it see theirs now, with the
    // message abortChildren gives them, rather than once their listing and their own round trips
    // are done (on PostgreSQL under load, 100 children took more than the contract's 100 ms)
    if (root) this.pool.abortLocalDescendants(id, message);
    await this.aborting(result, message);
    return result.run;
  }

  /**
   * What follows an abort recorded by storage: a run ended `aborted` left the backlog, is logged
   * and finalised (onAbort, announcement); a running one sees its abort here at once, and on the
   * other nodes through the distribution (its message kept with it for whichever node ends it).
   */
  private async aborting(result: Exclude<AbortResult, { kind: 'not_found' }>, message: string): Promise<void> {
    const rt = this.rt;
    const run = result.run;
    switch (result.kind) {
      case 'finished':
        return;
      case 'aborted': {
        rt.observer?.abortRequested(run);
        rt.backlog.left(run.definitionId); // a pending run left the backlog
        // it was pending (new, or waiting for its retry) unless it was parked between iterations
        if (run.iterations === run.iterationBase) rt.stats.pendingLeft(run.definitionId);
        const def = rt.registry.get(run.definitionId);
        rt.log(def, run, 'warn', `aborted: ${message}`);
        rt.inlineFunctions.delete(run.id);
        await rt.finalize(def, run, 'abort');
        return;
      }
      case 'requested': {
        rt.observer?.abortRequested(run);
        const def = rt.registry.get(run.definitionId);
        rt.log(def, run, 'warn', `abort requested: ${message}`);
        // the request is stored: a run executing here sees it at once (it holds the message itself)
        this.pool.abortLocal(run.id, message);
        // kept with the run, so whichever other node ends it stores the message on the run
        await rt.storage.setValue(run.id, ABORT_MESSAGE_KEY, message);
        await rt.distribution.publishAbort(run.id);
        return;
      }
    }
  }

  private async abortChildren(parentId: string, message: string, depth: number): Promise<void> {
    if (depth > 32) return;
    let cursor: string | undefined;
    do {
      const page = await this.rt.storage.listRuns({ parentId, status: ['pending', 'running'], limit: 200, cursor });
      // Those executing here see the abort at once: their parent's abort is stored, so theirs
      // follows, and a run answers under its own lease whether or not its request is stored yet.
      // Then the children of the page at once, not one store round trip after another: one by
      // one, on PostgreSQL with 100 children, the last signal fired 400 ms after abort() (R15: 100 ms).
      for (const child of page.items) if (child.status === 'running') this.pool.abortLocal(child.id, `parent ${parentId} aborted: ${message}`);
      await Promise.all(
        page.items.map(async (child) => {
          await this.abortOne(child.id, `parent ${parentId} aborted: ${message}`).catch(() => undefined);
          await this.abortChildren(child.id, message, depth + 1);
        }),
      );
      cursor = page.cursor;
    } while (cursor);
  }

  async get(id: string): Promise<TaskRun | null> {
    if (typeof id !== 'string') throw new InvalidArgumentError('get() takes a run id (string)');
    if (!isRunIdShape(id)) return null;
    await this.rt.ready();
    const run = await this.rt.storage.getRun(id);
    return run ? toPublicRun(run) : null;
  }

  /** the run once it has ended; TaskTimeoutError when `timeout` ms pass first */
  wait<O = unknown>(id: string, options: { timeout?: number } = {}): Promise<TaskRun<O>> {
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
    if (!this.rt.isReady) return this.rt.ready().then(() => this.waitReady<O>(runId, timeout));
    return this.waitReady<O>(runId, timeout);
  }

  private waitReady<O>(runId: string, timeout: number | undefined): Promise<TaskRun<O>> {
    const rt = this.rt;
    const waiter = new RunWaiter(runId, rt.waiters);
    const promise = promiseInto(waiter) as Promise<TaskRun<O>>;
    // the waiter is registered before the read, so an end between the two is not missed
    rt.waiters.add(waiter);
    if (timeout !== undefined) waiter.timer = new LongTimeout(() => waiter.timedOut(timeout), timeout);
    // a run stored through a host transaction that has not ended yet is not readable: its waiters
    // are settled by its end, or with TaskNotFoundError once the transaction is seen rolled back
    if (!rt.transactions.has(runId)) rt.reads.push(runId, waiter);
    rt.watchWaiters();
    return promise;
  }

  /** its output when it succeeded; TaskFailedError / TaskAbortedError / TaskTimeoutError otherwise */
  async result<O = unknown>(id: string, options: { timeout?: number } = {}): Promise<O> {
    const run = await this.wait<O>(id, options);
    if (run.status === 'success') return run.output as O;
    if (run.status === 'aborted') throw new TaskAbortedError(run.id, run.error?.message);
    throw new TaskFailedError(run.id, run.error);
  }

  async listRuns(query: ListRunsQuery = {}): Promise<Page<TaskRun>> {
    const q = readOptions(query, LIST_RUNS_KEYS, 'listRuns()', '{ definition?, status?, parentId?, limit?, cursor? }');
    const statuses = q.status === undefined ? undefined : Array.isArray(q.status) ? [...(q.status as unknown[])] : [q.status];
    if (statuses?.some((s) => !STATUSES.includes(s as RunStatus))) throw new InvalidArgumentError(`status must be one of ${STATUSES.join(', ')}`);
    if (q.definition !== undefined && typeof q.definition !== 'string') throw new InvalidArgumentError(`listRuns(): definition must be a string, got ${describeKind(q.definition)}`);
    if (q.parentId !== undefined && typeof q.parentId !== 'string') throw new InvalidArgumentError(`listRuns(): parentId must be a string, got ${describeKind(q.parentId)}`);
    const limit = checkLimit(q.limit) ?? 50;
    const cursor = checkCursor(q.cursor);
    // a run id cursor (listRuns answers run ids): anything else was not returned by a previous call
    if (cursor !== undefined && cursor !== '' && !isRunIdShape(cursor)) throw new InvalidArgumentError('listRuns(): cursor must be a string returned by a previous call');
    // filters no stored run can match (no definition id or run id holds such text) are an empty page
    if (q.definition !== undefined && !couldBeDefinitionId(q.definition)) return { items: [] };
    if (q.parentId !== undefined && !isRunIdShape(q.parentId)) return { items: [] };
    await this.rt.ready();
    const page = await this.rt.storage.listRuns({
      definition: q.definition,
      status: statuses as RunStatus[] | undefined,
      parentId: q.parentId,
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
    if (cursor !== undefined && cursor !== '' && !LOG_CURSOR.test(cursor)) throw new InvalidArgumentError('listLogs(): cursor must be a string returned by a previous call');
    if (!isRunIdShape(q.runId)) return { items: [] }; // no run has such an id
    await this.rt.ready();
    return this.rt.storage.listLogs({ runId: q.runId, limit, cursor });
  }

  async listDefinitions(options: { includePrivate?: boolean } = {}): Promise<DefinitionInfo[]> {
    const o = options === undefined || options === null ? {} : readOptions(options, LIST_DEFINITIONS_KEYS, 'listDefinitions()', '{ includePrivate? }');
    if (o.includePrivate !== undefined && typeof o.includePrivate !== 'boolean') throw new InvalidArgumentError(`listDefinitions(): includePrivate must be a boolean, got ${describeKind(o.includePrivate)}`);
    const disabled = await this.rt.disabledDefinitions(0);
    return this.rt.registry
      .all()
      .filter((d) => o.includePrivate === true || !d.isPrivate)
      .map((d) => this.rt.registry.info(d, disabled.has(d.id)));
  }

  /** runs `fn` on this node's pool as a short-lived run (definition id `inline`); resolves with its result */
  async runInline<R>(fn: (input: unknown, signal: AbortSignal) => R | Promise<R>, input?: unknown): Promise<R> {
    if (typeof fn !== 'function') throw new InvalidArgumentError(`runInline() takes a function, got ${describeKind(fn)}`);
    const rt = this.rt;
    const limits = { maxInputBytes: rt.options.maxInputBytes, maxDepth: 64, maxKeys: rt.options.maxInputKeys };
    // the checks trigger() applies, to the input and to the captured context alike: a value that
    // cannot be stored is refused here, never in the grouped insert it shares with other triggers
    const plain = copyJsonData(input, limits, 'input');
    const context = prepareContext(currentContext(), limits);
    await rt.ready();
    const now = rt.now();
    const record: RunRecord = {
      id: newRunId(now),
      definitionId: 'inline',
      name: inlineName(fn),
      status: 'pending',
      input: plain,
      iterations: 0,
      attempt: 0,
      retries: 0,
      createdOn: rt.isoOf(now),
      dueAt: now,
      targetNodeId: rt.options.nodeId,
      abortRequested: false,
      recoveries: 0,
      logCount: 0,
      iterationBase: 0,
    };
    if (context !== undefined) record.context = context;
    rt.inlineFunctions.set(record.id, fn as InlineFunction);
    try {
      const { run } = await rt.inserts.add(record);
      return await this.result<R>(run.id);
    } finally {
      rt.inlineFunctions.delete(record.id);
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
    await this.rt.ready();
    const old = await this.rt.storage.getRun(runId);
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
    await this.rt.ready();
    const result = await this.rt.storage.deleteRun(id);
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
    await this.rt.ready();
    const out = Object.create(null) as Record<string, unknown>;
    for (const [key, value] of await this.rt.storage.listLocals(def.id)) out[key] = value;
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
    if (o.message !== undefined && typeof o.message !== 'string') throw new InvalidArgumentError(`restart(): message must be a string, got ${describeKind(o.message)}`);
    const message = o.message === undefined ? 'restarted' : o.message.slice(0, 1000);
    const rt = this.rt;
    await rt.ready();
    const cutoffMs = rt.now();
    const cutoff = newRunId(cutoffMs);
    // this node's triggers made before the cut-off are stored before the sweep looks for them
    await rt.inserts.drain();
    const { localsCleared } = await rt.storage.restartDefinition(def.id, cutoff);
    let aborted = 0;
    let abortRequested = 0;
    for (;;) {
      const page = await rt.storage.abortDefinitionRuns({ definitionId: def.id, before: cutoff, message, now: rt.nowIso(), limit: RESTART_PAGE });
      if (page.aborted.length === 0 && page.requested.length === 0) break;
      aborted += page.aborted.length;
      abortRequested += page.requested.length;
      const results = [
        ...page.aborted.map((run) => ({ kind: 'aborted' as const, run })),
        ...page.requested.map((run) => ({ kind: 'requested' as const, run })),
      ];
      await Promise.all(
        results.map(async (result) => {
          await this.aborting(result, message);
          // a run that never started has no children to abort
          if (result.run.iterations > 0) await this.abortChildren(result.run.id, message, 0);
        }),
      );
    }
    rt.stats.reset(def.id);
    await rt.distribution.publishRestart(def.id);
    const left = cutoffMs + RESTART_CLOCK_MARGIN_MS - rt.now();
    if (left > 0) await new Promise((resolve) => setTimeout(resolve, left));
    return { definitionId: def.id, aborted, abortRequested, localsCleared };
  }

  /** one row per definition */
  async stats(): Promise<DefinitionStats[]> {
    await this.rt.ready();
    const [pending, disabled] = await Promise.all([this.rt.storage.countPending(), this.rt.disabledDefinitions(0)]);
    const running = new Map<string, number>();
    for (const exec of this.pool.active.values()) running.set(exec.run.definitionId, (running.get(exec.run.definitionId) ?? 0) + 1);
    return this.rt.registry.all().map((d) => {
      const queue = pending.get(d.id) ?? 0;
      const status = d.fault ? 'fault' : disabled.has(d.id) ? 'disabled' : running.get(d.id) ? 'running' : queue > 0 ? 'pending' : 'idle';
      return this.rt.stats.row(d.id, status, queue);
    });
  }

  /** a disabled definition accepts triggers but runs nothing until enabled */
  async disable(id: string): Promise<void> {
    const def = this.pipeline.resolveDefinition(id);
    await this.rt.ready();
    await this.rt.storage.setDefinitionDisabled(def.id, true);
    this.rt.invalidateDisabled();
  }

  async enable(id: string): Promise<void> {
    const def = this.pipeline.resolveDefinition(id);
    await this.rt.ready();
    await this.rt.storage.setDefinitionDisabled(def.id, false);
    this.rt.invalidateDisabled();
    this.rt.pump();
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
    return this.rt.bus.on(event, listener);
  }

  off<E extends TaskEventName>(event: E, listener: TaskEventListener<E>): void {
    this.rt.bus.off(event, listener);
  }

  private knownId(id: unknown): string {
    if (typeof id !== 'string') throw new InvalidArgumentError(`a run id must be a string, got ${describeKind(id)}`);
    if (!isRunIdShape(id)) throw new TaskNotFoundError(id);
    return id;
  }
}
