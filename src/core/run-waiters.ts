import type { RunRecord } from '../ports/run-record';

type Waiter = (run: RunRecord) => void;

/**
 * One map of waiters keyed by run id serves every wait(): no polling, no per-run listener.
 * Most runs have one waiter, kept as is; a second one turns the entry into an array.
 */
export class RunWaiters {
  private readonly waiters = new Map<string, Waiter | Waiter[]>();

  add(runId: string, waiter: Waiter): () => void {
    const current = this.waiters.get(runId);
    if (current === undefined) this.waiters.set(runId, waiter);
    else if (Array.isArray(current)) current.push(waiter);
    else this.waiters.set(runId, [current, waiter]);
    return () => this.remove(runId, waiter);
  }

  private remove(runId: string, waiter: Waiter): void {
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

  resolve(run: RunRecord): void {
    const current = this.waiters.get(run.id);
    if (current === undefined) return;
    this.waiters.delete(run.id);
    if (Array.isArray(current)) for (const w of current) w(run);
    else current(run);
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
