import type { Container } from 'inversify';
import type { Logger } from 'winston';
import type { NodeDescriptor } from '../../ports/distribution';
import { Runtime } from '../runtime/runtime';
import { TaskEngine } from '../service/task-engine';
import { WorkerPool } from '../execution/worker-pool';
import { ObserverSet, type EngineObserver } from './engine-observer';
import type { EventWatch, RemoteRunEvent } from './event-relay';
import { errorFields } from '../../util/safe-string';

/** The readiness of one node: its engine started, and its storage answering. */
export interface EngineHealth {
  started: boolean;
  storage: boolean;
  /** why storage did not answer (for the log; never shown to callers) */
  error?: unknown;
}

/**
 * What an operator surface (the management server, a metrics endpoint) needs from a node's engine
 * beyond TaskService: observation hooks, live events of other nodes, health, the live nodes, the
 * runs executing here. Internal to the package (not exported from the core entry).
 */
export class EngineAccess {
  private readonly rt: Runtime;
  private readonly pool: WorkerPool;
  private readonly engine: TaskEngine;

  constructor(container: Container) {
    this.rt = container.get(Runtime);
    this.pool = container.get(WorkerPool);
    this.engine = container.get(TaskEngine);
  }

  get nodeId(): string {
    return this.rt.options.nodeId;
  }

  get logger(): Logger {
    return this.rt.logger;
  }

  /** adds an observer to the engine; returns the function that removes it */
  observe(observer: EngineObserver): () => void {
    const rt = this.rt;
    rt.observer ??= new ObserverSet((err) => rt.logger.error('tasklane: an engine observer threw; ignored', errorFields(err)));
    rt.observer.add(observer);
    return () => {
      rt.observer?.delete(observer);
      // none left: the hot path's checks find nothing again
      if (rt.observer?.size === 0) rt.observer = undefined;
    };
  }

  /** hears the events of runs executing on other nodes (see EventRelay) */
  watchRemote(filter: EventWatch, listener: (event: RemoteRunEvent) => void): () => void {
    return this.rt.relay.watch(filter, listener);
  }

  /** watchers of other nodes' events on this node, and whether this node publishes its own */
  get relayState(): { watching: number; publishing: boolean } {
    return { watching: this.rt.relay.watching, publishing: this.rt.relay.publishing };
  }

  /** engine started and storage answering a read within `timeoutMs` */
  async health(timeoutMs = 2000): Promise<EngineHealth> {
    const started = this.engine.status === 'started';
    if (!started) return { started, storage: false };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        // the cheapest read there is: one primary-key look-up of an id no run has
        this.rt.storage.getRun('0'.repeat(26)),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`storage did not answer within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      return { started, storage: true };
    } catch (error) {
      return { started, storage: false, error };
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  liveNodes(): Promise<NodeDescriptor[]> {
    return this.rt.distribution.liveNodes();
  }

  /** runs claimed or executing on this node, per definition */
  runningHere(): Map<string, number> {
    const out = new Map<string, number>();
    for (const exec of this.pool.active.values()) out.set(exec.run.definitionId, (out.get(exec.run.definitionId) ?? 0) + 1);
    return out;
  }
}
