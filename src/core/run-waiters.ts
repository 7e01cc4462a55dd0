import type { RunRecord } from '../ports/run-record';

type Waiter = (run: RunRecord) => void;

/** One map of waiters keyed by run id serves every wait(): no polling, no per-run listener. */
export class RunWaiters {
  private readonly waiters = new Map<string, Set<Waiter>>();

  add(runId: string, waiter: Waiter): () => void {
    let set = this.waiters.get(runId);
    if (!set) this.waiters.set(runId, (set = new Set()));
    set.add(waiter);
    return () => {
      const s = this.waiters.get(runId);
      if (!s) return;
      s.delete(waiter);
      if (s.size === 0) this.waiters.delete(runId);
    };
  }

  has(runId: string): boolean {
    return this.waiters.has(runId);
  }

  resolve(run: RunRecord): void {
    const set = this.waiters.get(run.id);
    if (!set) return;
    this.waiters.delete(run.id);
    for (const w of set) w(run);
  }

  get size(): number {
    return this.waiters.size;
  }
}
