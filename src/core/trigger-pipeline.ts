import type { ChildTriggerOptions } from '../api/controller';
import {
  InvalidArgumentError,
  NoEligibleNodeError,
  TaskAbortedError,
  TaskDefinitionFaultError,
  TaskNotFoundError,
  TaskTriggerRefusedError,
  UnknownTaskDefinitionError,
} from '../api/errors';
import type { TaskContext, TaskRun } from '../api/types';
import type { RunRecord } from '../ports/run-record';
import { newRunId } from '../util/ids';
import { accepts } from './accept-rules';
import type { RegisteredDefinition } from './definition-registry';
import { toPublicRun } from './public-run';
import { currentContext } from './run-context';
import type { Runtime } from './runtime';
import { assertIdempotencyKey, assertRunId, assertRunName } from './validation/identifiers';
import { prepareInput, validateJsonData } from './validation/input-validator';

/** What `TaskService.trigger()` accepts. */
export interface TriggerOptions<I = unknown> {
  /** a definition id or a task class */
  definition: string | (abstract new (...args: never[]) => unknown);
  input?: I;
  name?: string;
  /** ms to wait before the run may start */
  delay?: number;
  /** a run or run id: the new run's parentId */
  parent?: string | { id: string };
  /** a run id whose end this run waits for */
  after?: string;
  /** idempotency key: while a run of this definition with the key is unfinished, it is returned */
  key?: string;
  /** travels with the run; defaults to the one set by runWithContext() */
  context?: TaskContext;
}

export type ChildTrigger = (options: ChildTriggerOptions, parent: RunRecord, parentAborted: boolean) => Promise<TaskRun>;

const TRIGGER_KEYS = new Set(['definition', 'input', 'name', 'delay', 'parent', 'after', 'key', 'context']);
const MAX_DELAY = 10 * 365 * 24 * 3600_000;

/** validate input -> idempotency key -> onBeforeTrigger -> store -> dispatch */
export class TriggerPipeline {
  private nodesCache?: { at: number; nodes: Awaited<ReturnType<Runtime['distribution']['liveNodes']>> };

  constructor(private readonly rt: Runtime) {}

  resolveDefinition(definition: unknown): RegisteredDefinition {
    let def: RegisteredDefinition | undefined;
    if (typeof definition === 'string') def = this.rt.registry.get(definition);
    else if (typeof definition === 'function') def = this.rt.registry.getByClass(definition);
    if (!def) {
      const name = typeof definition === 'function' ? (definition as { name?: string }).name ?? 'class' : String(definition);
      throw new UnknownTaskDefinitionError(name);
    }
    return def;
  }

  async trigger(options: TriggerOptions, extra?: { scheduledFor?: string }): Promise<TaskRun> {
    const rt = this.rt;
    if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('trigger() takes an options object: { definition, input?, ... }');
    for (const k of Object.keys(options)) if (!TRIGGER_KEYS.has(k)) throw new InvalidArgumentError(`trigger(): unknown option "${k.slice(0, 64)}"`);
    const def = this.resolveDefinition(options.definition);
    if (def.fault) throw new TaskDefinitionFaultError(def.id, def.fault.message);

    const limits = { maxInputBytes: def.maxInputBytes, maxDepth: 64 };
    const { instance, plain } = prepareInput(def.inputClass, options.input, limits);
    const name = options.name === undefined ? def.id : assertRunName(options.name);
    const delay = options.delay ?? 0;
    if (typeof delay !== 'number' || !Number.isFinite(delay) || delay < 0 || delay > MAX_DELAY) {
      throw new InvalidArgumentError(`trigger(): delay must be a number of ms between 0 and ${MAX_DELAY}`);
    }
    const parentId = options.parent === undefined ? undefined : assertRunId(typeof options.parent === 'object' && options.parent !== null ? options.parent.id : options.parent);
    const after = options.after === undefined ? undefined : assertRunId(options.after);
    const key = options.key === undefined ? undefined : assertIdempotencyKey(options.key);
    const context = options.context ?? currentContext();
    if (context !== undefined) validateJsonData(context, limits, 'context');

    if (!rt.isReady) await rt.ready();
    if (key !== undefined) {
      const existing = await rt.storage.findUnfinishedByKey(def.id, key);
      if (existing) return toPublicRun(existing);
    }
    if (parentId !== undefined || after !== undefined) {
      const ids = [parentId, after].filter((x): x is string => x !== undefined);
      const found = new Set((await rt.storage.getRuns(ids)).map((r) => r.id));
      for (const id of ids) if (!found.has(id)) throw new TaskNotFoundError(id);
    }
    const eligible = this.checkEligible(def);
    if (eligible) await eligible;

    // resolve an instance only when the class has the hook: most don't, and resolving costs
    const task = typeof def.cls.prototype?.onBeforeTrigger === 'function' ? (def.create() as { onBeforeTrigger?: (p: unknown) => unknown }) : {};
    if (typeof task.onBeforeTrigger === 'function') {
      try {
        await task.onBeforeTrigger({ input: instance, definitionId: def.id, name, context, parentId });
      } catch (err) {
        throw new TaskTriggerRefusedError(def.id, err);
      }
    }

    const now = rt.now();
    const record: RunRecord = {
      id: newRunId(now),
      definitionId: def.id,
      name,
      status: 'pending',
      input: plain,  // the validated JSON copy, never the caller's objects
      iterations: 0,
      attempt: 0,
      createdOn: new Date(now).toISOString(),
      dueAt: now + delay,
      abortRequested: false,
      recoveries: 0,
      logCount: 0,
    };
    if (parentId !== undefined) record.parentId = parentId;
    if (key !== undefined) record.key = key;
    if (context !== undefined) record.context = structuredClone(context);
    if (after !== undefined) record.after = after;
    if (extra?.scheduledFor) record.scheduledFor = extra.scheduledFor;
    if (!def.distributable && rt.distribution.capabilities.multiNode) record.targetNodeId = rt.options.nodeId;

    const { run, created } = await rt.inserts.add(record);
    if (created) {
      if (rt.bus.has('submitted')) rt.bus.emit('submitted', { run: toPublicRun(run) });
      rt.distribution.runnable([{ id: run.id, definitionId: run.definitionId, dueAt: run.dueAt }]);
    }
    return toPublicRun(run);
  }

  /** a run started from inside another run: parent set, the parent's context inherited */
  child(options: ChildTriggerOptions, parent: RunRecord, parentAborted: boolean): Promise<TaskRun> {
    if (parentAborted) return Promise.reject(new TaskAbortedError(parent.id, 'the parent run is being aborted; no child may start'));
    if (typeof options !== 'object' || options === null) return Promise.reject(new InvalidArgumentError('controller.trigger() takes an options object'));
    return this.trigger({ ...options, parent: parent.id, context: options.context ?? parent.context });
  }

  /** throws NoEligibleNodeError; synchronous unless the cluster's nodes must be read */
  private checkEligible(def: RegisteredDefinition): Promise<void> | undefined {
    const rt = this.rt;
    if (!def.distributable) return undefined;
    // this node counts, started or not: a run it accepts will run here at the latest
    if (accepts(rt.options.accept, def.id)) return undefined;
    if (!rt.distribution.capabilities.multiNode) throw new NoEligibleNodeError(def.id);
    return this.checkCluster(def);
  }

  private async checkCluster(def: RegisteredDefinition): Promise<void> {
    const rt = this.rt;
    const now = Date.now();
    if (!this.nodesCache || now - this.nodesCache.at > 1000) this.nodesCache = { at: now, nodes: await rt.distribution.liveNodes() };
    if (!this.nodesCache.nodes.some((n) => accepts(n.accept, def.id))) {
      // the cache may be stale: look again once before refusing
      this.nodesCache = { at: now, nodes: await rt.distribution.liveNodes() };
      if (!this.nodesCache.nodes.some((n) => accepts(n.accept, def.id))) throw new NoEligibleNodeError(def.id);
    }
  }
}
