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
import { isRunIdShape } from './validation/identifiers';
import { validateJsonData } from './validation/input-validator';
import { inputSchemaOf, type JsonSchema } from './validation/input-schema';
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
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('abort() takes { id, message? }');
    const id = this.knownId(options.id);
    const message = options.message === undefined ? 'aborted' : String(options.message).slice(0, 1000);
    await this.rt.ready();
    const run = await this.abortOne(id, message);
    await this.abortChildren(id, message, 0);
    return toPublicRun(run);
  }

  private async abortOne(id: string, message: string): Promise<RunRecord> {
    const rt = this.rt;
    const result = await rt.storage.requestAbort(id, message, rt.nowIso());
    switch (result.kind) {
      case 'not_found':
        throw new TaskNotFoundError(id);
      case 'finished':
        return result.run;
      case 'aborted': {
        rt.observer?.abortRequested(result.run);
        rt.backlog.left(result.run.definitionId); // a pending run left the backlog
        const def = rt.registry.get(result.run.definitionId);
        rt.log(def, result.run, 'warn', `aborted: ${message}`);
        rt.inlineFunctions.delete(id);
        await rt.finalize(def, result.run, 'abort');
        return result.run;
      }
      case 'requested': {
        rt.observer?.abortRequested(result.run);
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
    const timeout = options?.timeout;
    try {
      runId = this.knownId(id);
      if (timeout !== undefined && (typeof timeout !== 'number' || !(timeout >= 0))) throw new InvalidArgumentError('timeout must be a number of ms >= 0');
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
    if (timeout !== undefined) waiter.timer = setTimeout(() => waiter.timedOut(timeout), timeout);
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
    if (typeof query !== 'object' || query === null) throw new InvalidArgumentError('listRuns() takes a query object');
    const statuses = query.status === undefined ? undefined : Array.isArray(query.status) ? query.status : [query.status];
    if (statuses?.some((s) => !STATUSES.includes(s))) throw new InvalidArgumentError(`status must be one of ${STATUSES.join(', ')}`);
    if (query.definition !== undefined && typeof query.definition !== 'string') throw new InvalidArgumentError('definition must be a string');
    if (query.parentId !== undefined && typeof query.parentId !== 'string') throw new InvalidArgumentError('parentId must be a string');
    await this.rt.ready();
    const page = await this.rt.storage.listRuns({
      definition: query.definition,
      status: query.status,
      parentId: query.parentId,
      limit: checkLimit(query.limit) ?? 50,
      cursor: checkCursor(query.cursor),
    });
    return { items: page.items.map((r) => toPublicRun(r)), ...(page.cursor ? { cursor: page.cursor } : {}) };
  }

  async listLogs(query: ListLogsQuery): Promise<Page<RunLog>> {
    if (typeof query !== 'object' || query === null) throw new InvalidArgumentError('listLogs() takes { runId, limit?, cursor? }');
    if (typeof query.runId !== 'string') throw new InvalidArgumentError('listLogs(): runId is required');
    await this.rt.ready();
    return this.rt.storage.listLogs({ runId: query.runId, limit: checkLimit(query.limit) ?? 50, cursor: checkCursor(query.cursor) });
  }

  async listDefinitions(options: { includePrivate?: boolean } = {}): Promise<DefinitionInfo[]> {
    const disabled = await this.rt.disabledDefinitions(0);
    return this.rt.registry
      .all()
      .filter((d) => options?.includePrivate === true || !d.isPrivate)
      .map((d) => this.rt.registry.info(d, disabled.has(d.id)));
  }

  /** runs `fn` on this node's pool as a short-lived run (definition id `inline`); resolves with its result */
  async runInline<R>(fn: (input: unknown, signal: AbortSignal) => R | Promise<R>, input?: unknown): Promise<R> {
    if (typeof fn !== 'function') throw new InvalidArgumentError('runInline() takes a function');
    const rt = this.rt;
    if (input !== undefined) validateJsonData(input, { maxInputBytes: rt.options.maxInputBytes, maxDepth: 64 }, 'input');
    const context = currentContext();
    const now = rt.now();
    const record: RunRecord = {
      id: newRunId(now),
      definitionId: 'inline',
      name: (fn.name || 'inline').slice(0, 128),
      status: 'pending',
      input: input === undefined ? undefined : structuredClone(input),
      iterations: 0,
      attempt: 0,
      createdOn: new Date(now).toISOString(),
      dueAt: now,
      targetNodeId: rt.options.nodeId,
      abortRequested: false,
      recoveries: 0,
      logCount: 0,
    };
    if (context !== undefined) record.context = structuredClone(context);
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
    if (typeof id !== 'string' || !isRunIdShape(id)) throw new TaskNotFoundError(String(id));
    return id;
  }
}
