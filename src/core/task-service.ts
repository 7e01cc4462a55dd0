import {
  InvalidArgumentError,
  TaskAbortedError,
  TaskFailedError,
  TaskNotFoundError,
} from '../api/errors';
import type { OutputOf, TaskClass } from '../api/task-definition';
import type { DefinitionInfo } from '../api/task-options';
import type { DefinitionStats, ListLogsQuery, ListRunsQuery, Page, RunLog, RunStatus, TaskRun } from '../api/types';
import type { RunRecord } from '../ports/run-record';
import { newRunId } from '../util/ids';
import { promiseInto } from '../util/promise-into';
import type { TaskEventListener, TaskEventName } from './event-bus';
import { toPublicRun } from './public-run';
import { RunWaiter } from './run-waiters';
import { currentContext } from './run-context';
import type { InlineFunction, Runtime } from './runtime';
import type { TriggerOptions, TriggerPipeline } from './trigger-pipeline';
import { assertRunName, isRunIdShape, TASK_ID_MAX_LENGTH, TASK_ID_PATTERN } from './validation/identifiers';
import { readOptions } from './validation/arguments';
import { copyJsonData, prepareContext } from './validation/input-validator';
import { checkDuration, LongTimeout } from '../util/duration';
import { describeKind, safeGet } from '../util/safe-string';
import type { WorkerPool } from './worker-pool';
import { ABORT_MESSAGE_KEY } from './run-executor';

const STATUSES: readonly RunStatus[] = ['pending', 'running', 'success', 'failed', 'aborted'];

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
    switch (result.kind) {
      case 'finished':
        return result.run;
      case 'aborted': {
        rt.backlog.left(result.run.definitionId); // a pending run left the backlog
        if (result.run.iterations === 0) rt.stats.pendingLeft(result.run.definitionId); // (a parked one was running)
        const def = rt.registry.get(result.run.definitionId);
        rt.log(def, result.run, 'warn', `aborted: ${message}`);
        rt.inlineFunctions.delete(id);
        await rt.finalize(def, result.run, 'abort');
        return result.run;
      }
      case 'requested': {
        const def = rt.registry.get(result.run.definitionId);
        rt.log(def, result.run, 'warn', `abort requested: ${message}`);
        // the request is stored: a run executing here sees it at once (it holds the message itself)
        this.pool.abortLocal(id, message);
        // kept with the run, so whichever other node ends it stores the message on the run
        await rt.storage.setValue(id, ABORT_MESSAGE_KEY, message);
        await rt.distribution.publishAbort(id);
        return result.run;
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
      createdOn: rt.isoOf(now),
      dueAt: now,
      targetNodeId: rt.options.nodeId,
      abortRequested: false,
      recoveries: 0,
      logCount: 0,
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
