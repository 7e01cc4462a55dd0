import { GraphQLError } from 'graphql';
import type { RunError, RunProgress, TaskRun } from '../../api/types';

/** One event of `backgroundTaskEvents`. */
export interface TaskEventPayload {
  type: string;
  run: TaskRun;
  progress?: RunProgress;
  /** with `retrying` */
  error?: RunError;
}

const FINAL = new Set(['done', 'failed', 'aborted']);

/**
 * One subscriber's events, as the async iterator GraphQL subscriptions read. Bounded: a progress
 * event replaces the same run's progress still queued (the latest wins), and a subscriber that
 * lets more than `maxBuffer` events pile up is dropped (its stream ends with SLOW_CONSUMER), so a
 * slow or vanished client never holds memory or the engine. `onClose` runs once, however the
 * stream ends (completed, dropped, cancelled by the client, closed with the server).
 */
export class EventStream implements AsyncIterableIterator<TaskEventPayload> {
  private readonly queue: TaskEventPayload[] = [];
  private readonly queuedProgress = new Map<string, TaskEventPayload>();
  private waiter?: (result: IteratorResult<TaskEventPayload>) => void;
  private failure?: GraphQLError;
  /** no more events are taken; the queue is still delivered */
  private ending = false;
  private closed = false;

  constructor(
    private readonly maxBuffer: number,
    /** the run a `taskId` subscription follows: its final event ends the stream */
    private readonly runId: string | undefined,
    private readonly onClose: () => void,
    /** told when the subscriber is dropped for not reading (its connection is then closed) */
    private readonly onDropped?: () => void,
  ) {}

  push(event: TaskEventPayload): void {
    if (this.ending || this.closed) return;
    if (event.type === 'progress') {
      const queued = this.queuedProgress.get(event.run.id);
      if (queued) {
        queued.run = event.run;
        queued.progress = event.progress;
        return;
      }
    }
    if (this.queue.length >= this.maxBuffer) {
      this.fail(new GraphQLError(`Subscriber too slow: more than ${this.maxBuffer} events waited; dropped.`, { extensions: { code: 'SLOW_CONSUMER' } }));
      return;
    }
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w({ value: event, done: false });
    } else {
      // a copy: payloads are shared by subscribers, and a queued progress is updated in place
      const item = { ...event };
      this.queue.push(item);
      if (item.type === 'progress') this.queuedProgress.set(item.run.id, item);
    }
    if (this.runId !== undefined && event.run.id === this.runId && FINAL.has(event.type)) this.end();
  }

  /** no more events: what is queued is still delivered, then the stream completes */
  end(): void {
    if (this.ending || this.closed) return;
    this.ending = true;
    this.release();
    if (this.queue.length === 0) this.finish();
  }

  /**
   * drops the subscriber: its queue is discarded and its next read fails with `error` (a full
   * queue means nobody is waiting on a read)
   */
  private fail(error: GraphQLError): void {
    this.failure = error;
    this.queue.length = 0;
    this.queuedProgress.clear();
    this.ending = true;
    this.release();
    this.onDropped?.();
  }

  next(): Promise<IteratorResult<TaskEventPayload>> {
    const event = this.queue.shift();
    if (event) {
      if (event.type === 'progress' && this.queuedProgress.get(event.run.id) === event) this.queuedProgress.delete(event.run.id);
      if (this.ending && this.queue.length === 0 && !this.failure) this.finish();
      return Promise.resolve({ value: event, done: false });
    }
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      this.finish();
      return Promise.reject(failure);
    }
    if (this.ending || this.closed) {
      this.finish();
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** the client went away (or the server closes): nothing more is delivered */
  return(): Promise<IteratorResult<TaskEventPayload>> {
    this.queue.length = 0;
    this.queuedProgress.clear();
    this.ending = true;
    this.finish();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<TaskEventPayload> {
    return this;
  }

  private released = false;
  /** stops listening (once): called as soon as the stream takes no more events */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.onClose();
  }

  private finish(): void {
    this.release();
    if (this.closed) return;
    this.closed = true;
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
  }
}
