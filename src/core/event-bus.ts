import type { Logger } from 'winston';
import type { RunError, RunProgress, TaskRun } from '../api/types';

export interface TaskEvents {
  submitted: { run: TaskRun };
  started: { run: TaskRun };
  progress: { run: TaskRun; progress: RunProgress };
  iteration: { run: TaskRun };
  /** the run failed and goes back to `pending` for a retry (its `retries` grew; `run.runAt` is when it is due) */
  retrying: { run: TaskRun; error: RunError };
  done: { run: TaskRun };
  failed: { run: TaskRun };
  aborted: { run: TaskRun };
}

export type TaskEventName = keyof TaskEvents;
export type TaskEventListener<E extends TaskEventName> = (event: TaskEvents[E]) => void | Promise<void>;

const EVENT_NAMES: readonly TaskEventName[] = ['submitted', 'started', 'progress', 'iteration', 'retrying', 'done', 'failed', 'aborted'];

/**
 * One emitter for every run event. A listener that throws (or rejects) is logged and never
 * reaches the engine's loop.
 */
export class EventBus {
  private readonly listeners = new Map<TaskEventName, Set<(event: never) => void | Promise<void>>>();

  constructor(private readonly logger: Logger) {}

  on<E extends TaskEventName>(name: E, listener: TaskEventListener<E>): () => void {
    if (!EVENT_NAMES.includes(name)) throw new TypeError(`Unknown event "${String(name)}"; one of ${EVENT_NAMES.join(', ')}`);
    let set = this.listeners.get(name);
    if (!set) this.listeners.set(name, (set = new Set()));
    set.add(listener as (event: never) => void);
    return () => this.off(name, listener);
  }

  off<E extends TaskEventName>(name: E, listener: TaskEventListener<E>): void {
    this.listeners.get(name)?.delete(listener as (event: never) => void);
  }

  has(name: TaskEventName): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  emit<E extends TaskEventName>(name: E, event: TaskEvents[E]): void {
    const set = this.listeners.get(name);
    if (!set || set.size === 0) return;
    for (const listener of [...set]) {
      try {
        const result = (listener as (e: TaskEvents[E]) => unknown)(event);
        if (result && typeof (result as Promise<unknown>).then === 'function') {
          (result as Promise<unknown>).then(undefined, (err: unknown) => this.report(name, err));
        }
      } catch (err) {
        this.report(name, err);
      }
    }
  }

  private report(name: string, err: unknown): void {
    this.logger.error(`tasklane: a "${name}" listener threw; ignored`, { error: err instanceof Error ? err.message : String(err) });
  }

  clear(): void {
    this.listeners.clear();
  }
}
