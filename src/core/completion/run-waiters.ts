import { TaskNotFoundError, TaskTimeoutError } from '../../api/errors';
import type { LongTimeout } from '../../util/duration';
import { isFinished, type TaskRun } from '../../api/types';
import type { RunRecord } from '../../ports/run-record';
import type { BatchSink } from '../runtime/batcher';
import type { PromiseHolder } from '../../util/promise-into';
import { toPublicRun } from '../public-run';

/**
 * One wait() call: settled once, by the run's end (announced here), by the read that checks
 * whether it had already ended (it is that read's sink), or by its timeout.
 * One object per call, no closures: wait() is on the hot path of every host that awaits its runs.
 */
export class RunWaiter implements BatchSink<RunRecord | null | undefined>, PromiseHolder<TaskRun<never>> {
  private settled = false;
  timer?: LongTimeout;
  private onDone?: (run: TaskRun<never>) => void;
  private onFail?: (error: unknown) => void;

  constructor(
    readonly runId: string,
    private readonly owner: RunWaiters,
  ) {}

  attach(resolve: (run: TaskRun<never>) => void, reject: (error: unknown) => void): void {
    this.onDone = resolve;
    this.onFail = reject;
  }

  /** the run ended */
  done(run: RunRecord): void {
    if (this.settle()) this.onDone!(toPublicRun(run));
  }

  fail(error: unknown): void {
    if (this.settle()) this.onFail!(error);
  }

  timedOut(timeout: number): void {
    this.fail(new TaskTimeoutError(this.runId, timeout));
  }

  /** BatchSink: the read made when waiting began (the run if it has ended, null if unknown) */
  resolve(run: RunRecord | null | undefined): void {
    if (run === null) this.fail(new TaskNotFoundError(this.runId));
    else if (run !== undefined && isFinished(run.status)) this.done(run);
  }

  reject(error: unknown): void {
    this.fail(error);
  }

  /** set by RunWaiters.resolve, which already took the run's waiters out of its map */
  removed = false;

  private settle(): boolean {
    if (this.settled) return false;
    this.settled = true;
    this.timer?.clear();
    if (!this.removed) this.owner.remove(this);
    return true;
  }
}

/**
 * One map of waiters keyed by run id serves every wait(): no polling, no per-run listener.
 * Most runs have one waiter, kept as is; a second one turns the entry into an array.
 */
export class RunWaiters {
  private readonly waiters = new Map<string, RunWaiter | RunWaiter[]>();

  add(waiter: RunWaiter): void {
    const runId = waiter.runId;
    const current = this.waiters.get(runId);
    if (current === undefined) this.waiters.set(runId, waiter);
    else if (Array.isArray(current)) current.push(waiter);
    else this.waiters.set(runId, [current, waiter]);
  }

  remove(waiter: RunWaiter): void {
    const runId = waiter.runId;
    const current = this.waiters.get(runId);
    if (current === waiter) this.waiters.delete(runId);
    else if (Array.isArray(current)) {
      const i = current.indexOf(waiter);
      if (i >= 0) current.splice(i, 1);
      if (current.length === 0) this.waiters.delete(runId);
    }
  }

  has(runId: string): boolean {
    return this.waiters.has(runId);
  }

  /** the run ended: every waiter of it resolves */
  resolve(run: RunRecord): void {
    const current = this.waiters.get(run.id);
    if (current === undefined) return;
    this.waiters.delete(run.id);
    if (Array.isArray(current)) {
      for (const w of current) w.removed = true;
      for (const w of current) w.done(run);
    } else {
      current.removed = true;
      current.done(run);
    }
  }

  /** the run will never end (it was never stored): every waiter of it fails with `error` */
  fail(runId: string, error: unknown): void {
    const current = this.waiters.get(runId);
    if (current === undefined) return;
    this.waiters.delete(runId);
    const list = Array.isArray(current) ? current : [current];
    for (const w of list) w.removed = true;
    for (const w of list) w.fail(error);
  }

  /** ids being waited for, at most `limit` */
  ids(limit: number): string[] {
    const out: string[] = [];
    for (const id of this.waiters.keys()) {
      if (out.length >= limit) break;
      out.push(id);
    }
    return out;
  }

  get size(): number {
    return this.waiters.size;
  }
}
