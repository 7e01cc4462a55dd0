import type { ChildTriggerOptions } from '../../api/controller';
import {
  NoEligibleNodeError,
  QueueFullError,
  TaskAbortedError,
  TaskDefinitionFaultError,
  TaskNotFoundError,
  TaskTriggerRefusedError,
  UnknownTaskDefinitionError,
} from '../../api/errors';
import type { TaskContext, TaskRun } from '../../api/types';
import type { NodeDescriptor } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { HostTransaction, MaybePromise } from '../../ports/transaction';
import { checkDuration } from '../../util/duration';
import { newRunId } from '../../util/ids';
import { isPromiseLike } from '../../util/maybe-promise';
import { promiseInto, type PromiseHolder } from '../../util/promise-into';
import { safeString } from '../../util/safe-string';
import { accepts } from '../definitions/accept-rules';
import { inputLimitsOf, type RegisteredDefinition } from '../definitions/definition-registry';
import { checkRetryPolicy } from '../execution/retry-policy';
import { currentContext } from '../execution/run-context';
import { traceTrigger, tracingOn } from '../observation/tracing';
import { toPublicRun } from '../public-run';
import type { BatchSink } from '../runtime/batcher';
import { assertIdempotencyKey, assertRunId, assertRunName } from '../validation/identifiers';
import { readOptions, readProperty } from '../validation/arguments';
import { prepareContext, prepareInput } from '../validation/input-validator';
import type { BacklogGate } from './backlog-gate';
import { TransactionalTrigger } from './transactional-trigger';
import type { TriggerDeps, TriggerOptions, TriggerOrigin, TriggerRequest, TriggerSteps } from './trigger-request';

const TRIGGER_KEYS: ReadonlySet<keyof TriggerOptions> = new Set<keyof TriggerOptions>([
  'definition',
  'input',
  'name',
  'delay',
  'parent',
  'after',
  'key',
  'context',
  'retry',
  'transaction',
]);
const CHILD_KEYS: ReadonlySet<string> = new Set<keyof ChildTriggerOptions>(['definition', 'input', 'name', 'delay', 'after', 'key', 'context', 'retry']);

/** The grouped insert's answer for one trigger: its public run. */
class InsertSink implements BatchSink<{ run: RunRecord; created: boolean }>, PromiseHolder<TaskRun> {
  private onRun?: (run: TaskRun) => void;
  private onError?: (error: unknown) => void;

  attach(resolve: (run: TaskRun) => void, reject: (error: unknown) => void): void {
    this.onRun = resolve;
    this.onError = reject;
  }

  resolve(result: { run: RunRecord; created: boolean }): void {
    this.onRun!(toPublicRun(result.run));
  }

  reject(error: unknown): void {
    this.onError!(error);
  }
}

/** validate input -> idempotency key -> maxBacklog -> parent, after, cluster -> onBeforeTrigger -> store -> dispatch */
export class TriggerPipeline implements TriggerSteps {
  private nodesCache?: { at: number; nodes: NodeDescriptor[] };
  private readonly transactional: TransactionalTrigger;

  constructor(private readonly deps: TriggerDeps) {
    this.transactional = new TransactionalTrigger(deps, this);
  }

  /** the registered definition of an id or a task class; UnknownTaskDefinitionError for anything else */
  resolveDefinition(definition: unknown): RegisteredDefinition {
    let def: RegisteredDefinition | undefined;
    if (typeof definition === 'string') def = this.deps.registry.get(definition);
    else if (typeof definition === 'function') def = this.deps.registry.getByClass(definition);
    if (!def) throw new UnknownTaskDefinitionError(safeString(definition, 200));
    return def;
  }

  /**
   * Validation is synchronous and comes first: a refused trigger stores nothing. A trigger with
   * nothing to look up (no key, parent, `after`, hook or cluster check) goes straight to the
   * grouped insert, without an async frame of its own; with a maxBacklog too, while its count
   * can be decided at once (it mostly can: see BacklogLimiter).
   */
  trigger(options: TriggerOptions, extra?: TriggerOrigin): Promise<TaskRun> {
    // with a tracer provider registered, the trigger runs inside its span (see observation/tracing)
    if (tracingOn()) return traceTrigger(options, currentContext(), (traced) => this.triggerNow(traced, extra));
    return this.triggerNow(options, extra);
  }

  private triggerNow(options: TriggerOptions, extra: TriggerOrigin | undefined): Promise<TaskRun> {
    let request: TriggerRequest;
    try {
      request = this.prepare(options, extra);
    } catch (err) {
      return Promise.reject(err);
    }
    if (request.transaction !== undefined) return this.transactional.trigger(request, request.transaction);
    if (
      !this.deps.gate.isReady ||
      request.key !== undefined ||
      request.parentId !== undefined ||
      request.after !== undefined ||
      request.eligible ||
      request.hasHook
    ) {
      return this.triggerChecked(request);
    }
    if (request.gate === undefined) return this.store(request);
    const verdict = this.deps.backlog.tryAdmit(request.gate);
    if (verdict === 'admitted') return this.storeAdmitted(request, request.gate);
    if (verdict === 'full') return Promise.reject(new QueueFullError(request.def.id, request.gate.limit));
    return this.triggerChecked(request);
  }

  private prepare(options: TriggerOptions, extra: TriggerOrigin | undefined): TriggerRequest {
    // read once: a getter read twice may answer differently after it was checked
    const o = readOptions(options, TRIGGER_KEYS, 'trigger()', '{ definition, input?, ... }');
    const def = this.resolveDefinition(o.definition);
    if (def.fault) throw new TaskDefinitionFaultError(def.id, def.fault.message);

    const limits = inputLimitsOf(def);
    const { instance, plain } = prepareInput(def.inputClass, o.input, limits);
    const name = o.name === undefined ? def.id : assertRunName(o.name);
    const delay = o.delay === undefined ? 0 : checkDuration(o.delay, 'trigger(): delay');
    // a run or a run id; a run (an object) must have its id
    const parent = typeof o.parent === 'object' && o.parent !== null ? readProperty(o.parent, 'id', 'trigger(): parent.id') : o.parent;
    const parentId = o.parent === undefined ? undefined : assertRunId(parent);
    const after = o.after === undefined ? undefined : assertRunId(o.after);
    const key = o.key === undefined ? undefined : assertIdempotencyKey(o.key);
    // the same checks, and a detached copy, whether the context is given or captured; a retry
    // (TaskService.retry) carries the old run's context, never the caller's
    const context = prepareContext(extra?.retryOf !== undefined ? o.context : (o.context ?? currentContext()), limits);
    const retry = o.retry === undefined ? undefined : checkRetryPolicy(o.retry, 'trigger(): retry');
    return {
      def,
      instance,
      plain,
      name,
      delay,
      parentId,
      after,
      key,
      context,
      retry,
      scheduledFor: extra?.scheduledFor,
      backfilled: extra?.backfilled === true,
      retryOf: extra?.retryOf,
      eligible: this.checkEligible(def),
      // an instance is resolved only when the class has the hook: most don't, and resolving costs
      hasHook: typeof (def.cls.prototype as { onBeforeTrigger?: unknown } | undefined)?.onBeforeTrigger === 'function',
      gate: def.maxBacklog === undefined ? undefined : this.deps.backlog.gate(def.id, def.maxBacklog),
      transaction: o.transaction as HostTransaction | undefined,
    };
  }

  /**
   * The trigger steps that read storage or call the task: key, backlog, parent and after, cluster,
   * hook. The backlog comes after the key (a trigger answered with the run holding its key adds
   * nothing to the backlog) and before the rest, so a full backlog costs no further read and no
   * hook call; a trigger admitted there and refused later is uncounted again.
   */
  private async triggerChecked(request: TriggerRequest): Promise<TaskRun> {
    const deps = this.deps;
    const { def, key, parentId, after, gate } = request;
    if (!deps.gate.isReady) await deps.gate.ready();
    if (key !== undefined) {
      const existing = await deps.storage.findUnfinishedByKey(def.id, key);
      if (existing) return toPublicRun(existing);
    }
    if (gate !== undefined) {
      try {
        await deps.backlog.admit(gate);
      } catch (err) {
        void request.eligible?.catch(() => undefined); // refused first: the cluster's answer is not needed
        throw err;
      }
    }
    try {
      if (parentId !== undefined || after !== undefined) {
        const ids = [parentId, after].filter((x): x is string => x !== undefined);
        const found = new Set((await deps.storage.getRuns(ids)).map((r) => r.id));
        for (const id of ids) if (!found.has(id)) throw new TaskNotFoundError(id);
      }
      if (request.eligible) await request.eligible;
      if (request.hasHook) {
        const task = def.create() as { onBeforeTrigger?: (p: unknown) => unknown };
        if (typeof task.onBeforeTrigger === 'function') {
          try {
            await task.onBeforeTrigger({ input: request.instance, definitionId: def.id, name: request.name, context: request.context, parentId });
          } catch (err) {
            throw new TaskTriggerRefusedError(def.id, err);
          }
        }
      }
    } catch (err) {
      gate?.cancel();
      throw err;
    }
    return gate === undefined ? this.store(request) : this.storeAdmitted(request, gate);
  }

  /** an admitted trigger goes to the grouped insert; one that throws on the way there is uncounted */
  private storeAdmitted(request: TriggerRequest, gate: BacklogGate): Promise<TaskRun> {
    try {
      return this.store(request);
    } catch (err) {
      gate.cancel();
      return Promise.reject(err);
    }
  }

  /**
   * The definition's onBeforeTrigger, when it has one; a throw or rejection becomes
   * TaskTriggerRefusedError. Synchronous unless the hook answers with a promise (the
   * transactional trigger needs that; triggerChecked, always asynchronous, awaits the hook itself).
   */
  beforeTrigger(request: TriggerRequest): MaybePromise<void> {
    const { def } = request;
    if (!request.hasHook) return undefined;
    const task = def.create() as { onBeforeTrigger?: (p: unknown) => unknown };
    if (typeof task.onBeforeTrigger !== 'function') return undefined;
    let answer: unknown;
    try {
      answer = task.onBeforeTrigger({
        input: request.instance,
        definitionId: def.id,
        name: request.name,
        context: request.context,
        parentId: request.parentId,
      });
    } catch (err) {
      throw new TaskTriggerRefusedError(def.id, err);
    }
    if (!isPromiseLike(answer)) return undefined;
    return Promise.resolve(answer).then(
      () => undefined,
      (err: unknown) => {
        throw new TaskTriggerRefusedError(def.id, err);
      },
    );
  }

  /** the record goes to the grouped insert (which announces it); resolves with the public run */
  private store(request: TriggerRequest): Promise<TaskRun> {
    const record = this.newRecord(request);
    const sink = new InsertSink();
    const promise = promiseInto(sink);
    this.deps.batches.inserts.push(record, sink);
    return promise;
  }

  /** the run a validated trigger stores */
  newRecord(request: TriggerRequest): RunRecord {
    const deps = this.deps;
    const now = deps.clock.now();
    const record: RunRecord = {
      id: newRunId(now),
      definitionId: request.def.id,
      name: request.name,
      status: 'pending',
      input: request.plain, // the validated JSON copy, never the caller's objects
      iterations: 0,
      attempt: 0,
      retries: 0,
      createdOn: deps.clock.isoOf(now),
      dueAt: now + request.delay,
      abortRequested: false,
      recoveries: 0,
      logCount: 0,
      iterationBase: 0,
    };
    if (request.parentId !== undefined) record.parentId = request.parentId;
    if (request.key !== undefined) record.key = request.key;
    if (request.context !== undefined) record.context = request.context; // a checked, frozen copy (prepareContext)
    if (request.after !== undefined) record.after = request.after;
    if (request.scheduledFor) record.scheduledFor = request.scheduledFor;
    if (request.backfilled) record.backfilled = true;
    if (request.retry !== undefined) record.retryPolicy = request.retry;
    if (request.retryOf !== undefined) record.retryOf = request.retryOf;
    if (!request.def.distributable && deps.distribution.capabilities.multiNode) record.targetNodeId = deps.options.nodeId;
    return record;
  }

  /** a run started from inside another run: parent set, the parent's context inherited */
  child(options: ChildTriggerOptions, parent: RunRecord, parentAborted: boolean): Promise<TaskRun> {
    if (parentAborted) return Promise.reject(new TaskAbortedError(parent.id, 'the parent run is being aborted; no child may start'));
    let o: Partial<Record<string, unknown>>;
    try {
      o = readOptions(options, CHILD_KEYS, 'controller.trigger()', '{ definition, input?, ... }');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.trigger({ ...(o as unknown as TriggerOptions), parent: parent.id, context: (o.context as TaskContext | undefined) ?? parent.context });
  }

  /** throws NoEligibleNodeError; synchronous unless the cluster's nodes must be read */
  private checkEligible(def: RegisteredDefinition): Promise<void> | undefined {
    const deps = this.deps;
    if (!def.distributable) return undefined;
    // this node counts, started or not: a run it accepts will run here at the latest
    if (accepts(deps.options.accept, def.id)) return undefined;
    if (!deps.distribution.capabilities.multiNode) throw new NoEligibleNodeError(def.id);
    return this.checkCluster(def);
  }

  private async checkCluster(def: RegisteredDefinition): Promise<void> {
    const deps = this.deps;
    const now = Date.now();
    if (!this.nodesCache || now - this.nodesCache.at > 1000) this.nodesCache = { at: now, nodes: await deps.distribution.liveNodes() };
    if (!this.nodesCache.nodes.some((n) => accepts(n.accept, def.id))) {
      // the cache may be stale: look again once before refusing
      this.nodesCache = { at: now, nodes: await deps.distribution.liveNodes() };
      if (!this.nodesCache.nodes.some((n) => accepts(n.accept, def.id))) throw new NoEligibleNodeError(def.id);
    }
  }
}
