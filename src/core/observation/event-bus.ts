import { InvalidArgumentError } from '../../api/errors';
import { describeKind, errorFields } from '../../util/safe-string';
import { freezeJsonData } from '../validation/json-data';
import type { Logger } from 'winston';
import type { RunError, RunProgress, TaskRun } from '../../api/types';

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
 * One emitter for every run event. Nothing a listener does reaches the engine or a caller:
 * - a listener that throws or rejects, with anything (an unprintable value included), is reported
 *   to the logger and ignored; `emit()` itself never throws, so an event emitted after a write
 *   (a trigger's `submitted`, a run's end) can never turn that write into a failure;
 * - listeners get a deep-frozen copy of the event, made once per emit: one that mutates what it
 *   receives changes neither the run its caller got back (trigger(), wait(), get()) nor the event
 *   the next listener sees. The copy is made only when the event has listeners.
 */
export class EventBus {
  private readonly listeners = new Map<TaskEventName, Set<(event: never) => void | Promise<void>>>();
  /** runs whose insert this node has not seen answered yet: their events wait for `submitted` */
  private readonly held = new Map<string, Array<() => void>>();
  private listenerCount = 0;

  constructor(private readonly logger: Logger) {}

  on<E extends TaskEventName>(name: E, listener: TaskEventListener<E>): () => void {
    const event = checkEventName(name);
    if (typeof listener !== 'function') throw new InvalidArgumentError(`on("${event}"): the listener must be a function, got ${describeKind(listener)}`);
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    if (!set.has(listener as (event: never) => void)) this.listenerCount++;
    set.add(listener as (event: never) => void);
    return () => this.off(name, listener);
  }

  off<E extends TaskEventName>(name: E, listener: TaskEventListener<E>): void {
    if (this.listeners.get(checkEventName(name))?.delete(listener as (event: never) => void)) this.listenerCount--;
  }

  /**
   * Per-run order for listeners: `submitted` comes first. Until `releaseHeld()` (or the run's own
   * `submitted`), the other events of these runs are queued, in order, instead of delivered.
   * `false` (nothing held) when nobody listens.
   */
  holdUntilSubmitted(runs: ReadonlyArray<{ id: string }>): boolean {
    if (this.listenerCount === 0) return false;
    for (const { id } of runs) if (!this.held.has(id)) this.held.set(id, []);
    return true;
  }

  /** delivers what was queued for these runs (their insert was answered, stored or not) */
  releaseHeld(runs: ReadonlyArray<{ id: string }>): void {
    for (const { id } of runs) this.release(id);
  }

  /**
   * Runs `deliver` once the run's `submitted` was delivered here, when this node holds the run's
   * events (its insert is unanswered); at once otherwise. For events of the run that reach this
   * node by another way than the bus (another node's, relayed to live views), in the same order.
   */
  afterSubmitted(runId: string, deliver: () => void): void {
    const queued = this.held.size > 0 ? this.held.get(runId) : undefined;
    if (queued !== undefined) queued.push(deliver);
    else deliver();
  }

  private release(id: string): void {
    const queued = this.held.get(id);
    if (queued === undefined) return;
    this.held.delete(id);
    for (const deliver of queued) deliver();
  }

  has(name: TaskEventName): boolean {
    return (this.listeners.get(name)?.size ?? 0) > 0;
  }

  emit<E extends TaskEventName>(name: E, event: TaskEvents[E]): void {
    const set = this.listeners.get(name);
    if (!set || set.size === 0) return;
    let payload: TaskEvents[E];
    try {
      payload = frozenCopy(event);
    } catch (err) {
      return this.report(name, err);
    }
    if (this.held.size > 0) {
      const id = payload.run.id;
      const queued = this.held.get(id);
      if (queued !== undefined) {
        if (name !== 'submitted') return void queued.push(() => this.deliver(name, set, payload));
        this.deliver(name, set, payload);
        return this.release(id);
      }
    }
    this.deliver(name, set, payload);
  }

  private deliver<E extends TaskEventName>(name: E, set: Set<(event: never) => void | Promise<void>>, payload: TaskEvents[E]): void {
    for (const listener of [...set]) {
      try {
        const result = (listener as (e: TaskEvents[E]) => unknown)(payload);
        // a listener's answer is its own: reading `then` may throw (a Proxy), `then` may throw
        if (typeof result === 'object' && result !== null && typeof (result as Promise<unknown>).then === 'function') {
          (result as Promise<unknown>).then(undefined, (err: unknown) => this.report(name, err));
        }
      } catch (err) {
        this.report(name, err);
      }
    }
  }

  /** never throws: a host logger that throws is not ours to raise either */
  private report(name: string, err: unknown): void {
    try {
      this.logger.error(`tasklane: a "${name}" listener threw; ignored`, errorFields(err));
    } catch {
      // nothing left to tell
    }
  }

  clear(): void {
    this.listeners.clear();
    this.listenerCount = 0;
    this.held.clear(); // nobody is left to tell
  }
}

function checkEventName(name: unknown): TaskEventName {
  if (typeof name !== 'string' || !(EVENT_NAMES as readonly string[]).includes(name)) {
    throw new InvalidArgumentError(
      `Unknown event ${typeof name === 'string' ? JSON.stringify(name.slice(0, 64)) : describeKind(name)}; one of ${EVENT_NAMES.join(', ')}`,
    );
  }
  return name as TaskEventName;
}

/** events hold JSON data only (runs, progress): a structured clone, deep-frozen */
function frozenCopy<T>(event: T): T {
  return freezeJsonData(structuredClone(event));
}
