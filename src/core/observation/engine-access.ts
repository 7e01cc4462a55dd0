import type { Container } from 'inversify';
import type { Logger } from 'winston';
import type { Distribution, NodeDescriptor } from '../../ports/distribution';
import type { RunStorage } from '../../ports/storage';
import type { ActiveExecutions } from '../execution/active-executions';
import type { TaskEngine } from '../service/task-engine';
import type { EngineObserver, ObserverSet } from './engine-observer';
import type { EventRelay, EventWatch, RemoteRunEvent } from './event-relay';

/** The parts of a node's engine an operator surface reaches (bound by the composition root). */
export interface EngineAccessParts {
  nodeId: string;
  logger: Logger;
  storage: RunStorage;
  distribution: Distribution;
  observers: ObserverSet;
  relay: EventRelay;
  /** the runs claimed or executing on this node */
  active: ActiveExecutions;
  engine: TaskEngine;
}

/** the container token of {@link EngineAccessParts} */
export const ENGINE_ACCESS_PARTS = Symbol.for('tasklane.EngineAccessParts');

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
  private readonly parts: EngineAccessParts;

  constructor(container: Container) {
    this.parts = container.get<EngineAccessParts>(ENGINE_ACCESS_PARTS);
  }

  get nodeId(): string {
    return this.parts.nodeId;
  }

  get logger(): Logger {
    return this.parts.logger;
  }

  /** adds an observer to the engine; returns the function that removes it */
  observe(observer: EngineObserver): () => void {
    return this.parts.observers.add(observer);
  }

  /** hears the events of runs executing on other nodes (see EventRelay) */
  watchRemote(filter: EventWatch, listener: (event: RemoteRunEvent) => void): () => void {
    return this.parts.relay.watch(filter, listener);
  }

  /** watchers of other nodes' events on this node, and whether this node publishes its own */
  get relayState(): { watching: number; publishing: boolean } {
    return { watching: this.parts.relay.watching, publishing: this.parts.relay.publishing };
  }

  /** engine started and storage answering a read within `timeoutMs` */
  async health(timeoutMs = 2000): Promise<EngineHealth> {
    const started = this.parts.engine.status === 'started';
    if (!started) return { started, storage: false };
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        // the cheapest read there is: one primary-key look-up of an id no run has
        this.parts.storage.getRun('0'.repeat(26)),
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
    return this.parts.distribution.liveNodes();
  }

  /** runs claimed or executing on this node, per definition */
  runningHere(): Map<string, number> {
    return this.parts.active.perDefinition();
  }
}
