import type { TaskEventName, TaskEvents } from '../../core/observation/event-bus';
import type { EngineAccess } from '../../core/observation/engine-access';
import type { TaskService } from '../../core/service/task-service';
import type { TaskRun } from '../../api/types';
import { EventStream, type TaskEventPayload } from './event-stream';

/** what one subscription follows; `tenant` restricts it to runs whose context.tenant is that */
export interface EventFilter {
  taskId?: string;
  definitionId?: string;
  tenant?: string;
}

const EVENTS: readonly TaskEventName[] = ['submitted', 'started', 'progress', 'iteration', 'retrying', 'done', 'failed', 'aborted'];

interface Subscription {
  filter: EventFilter;
  stream: EventStream;
}

/**
 * The management server's live events: one listener per event on this node's TaskService (while
 * anyone subscribes), fanned out to the subscriptions by run id and definition id, plus, per
 * subscription, the events of runs executing on other nodes (EngineAccess.watchRemote: other
 * nodes publish them only while such a watch exists).
 */
export class EventHub {
  private readonly byRun = new Map<string, Set<Subscription>>();
  private readonly byDefinition = new Map<string, Set<Subscription>>();
  private readonly everything = new Set<Subscription>();
  private readonly all = new Set<Subscription>();
  private unlisten: Array<() => void> = [];

  constructor(
    private readonly service: TaskService,
    private readonly access: EngineAccess,
    private readonly maxBuffer: number,
  ) {}

  /** open subscriptions (diagnostics, tests) */
  get size(): number {
    return this.all.size;
  }

  /** a new subscription's stream; `onDropped` runs if it is dropped for not reading */
  subscribe(filter: EventFilter, onDropped?: () => void): EventStream {
    let stopRemote: (() => void) | undefined;
    const sub: Subscription = {
      filter,
      stream: new EventStream(
        this.maxBuffer,
        filter.taskId,
        () => {
          stopRemote?.();
          this.remove(sub);
        },
        onDropped,
      ),
    };
    this.add(sub);
    stopRemote = this.access.watchRemote({ runId: filter.taskId, definitionId: filter.definitionId }, (e) => {
      if (visible(filter, e.run))
        sub.stream.push({ type: e.type, run: e.run, ...(e.progress ? { progress: e.progress } : {}), ...(e.error ? { error: e.error } : {}) });
    });
    return sub.stream;
  }

  /** ends every stream (the server closes): each client gets the stream's end */
  closeAll(): void {
    for (const sub of [...this.all]) sub.stream.end();
  }

  private add(sub: Subscription): void {
    if (this.all.size === 0) this.listen();
    this.all.add(sub);
    const { taskId, definitionId } = sub.filter;
    if (taskId !== undefined) index(this.byRun, taskId).add(sub);
    else if (definitionId !== undefined) index(this.byDefinition, definitionId).add(sub);
    else this.everything.add(sub);
  }

  private remove(sub: Subscription): void {
    if (!this.all.delete(sub)) return;
    const { taskId, definitionId } = sub.filter;
    if (taskId !== undefined) unindex(this.byRun, taskId, sub);
    else if (definitionId !== undefined) unindex(this.byDefinition, definitionId, sub);
    else this.everything.delete(sub);
    if (this.all.size === 0) {
      for (const off of this.unlisten) off();
      this.unlisten = [];
    }
  }

  private listen(): void {
    this.unlisten = EVENTS.map((name) => this.service.on(name, (event: TaskEvents[typeof name]) => this.dispatch(name, event)));
  }

  private dispatch(type: TaskEventName, event: { run: TaskRun; progress?: TaskEventPayload['progress']; error?: TaskEventPayload['error'] }): void {
    const payload: TaskEventPayload = {
      type,
      run: event.run,
      ...(event.progress ? { progress: event.progress } : {}),
      ...(event.error ? { error: event.error } : {}),
    };
    const deliver = (subs: Set<Subscription> | undefined) => {
      if (!subs) return;
      for (const sub of [...subs]) if (visible(sub.filter, event.run)) sub.stream.push(payload);
    };
    deliver(this.byRun.get(event.run.id));
    deliver(this.byDefinition.get(event.run.definitionId));
    deliver(this.everything);
  }
}

function visible(filter: EventFilter, run: TaskRun): boolean {
  return filter.tenant === undefined || run.context?.tenant === filter.tenant;
}

function index(map: Map<string, Set<Subscription>>, key: string): Set<Subscription> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function unindex(map: Map<string, Set<Subscription>>, key: string, sub: Subscription): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(sub);
  if (set.size === 0) map.delete(key);
}
