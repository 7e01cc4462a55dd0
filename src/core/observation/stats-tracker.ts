import type { DefinitionStats, RunError } from '../../api/types';

interface Counters {
  evalNum: number;
  errNum: number;
  retryNum: number;
  evalTotalTime: number;
  /** pending runs of the definition as this node knows them (see pendingAdded) */
  pending: number;
  queuePeak: number;
  missedTicks: number;
  lastError?: RunError;
}

/** Per-definition counters of this node (SkySpark-style task stats). */
export class StatsTracker {
  private readonly counters = new Map<string, Counters>();

  private of(id: string): Counters {
    let c = this.counters.get(id);
    if (!c) this.counters.set(id, (c = { evalNum: 0, errNum: 0, retryNum: 0, evalTotalTime: 0, pending: 0, queuePeak: 0, missedTicks: 0 }));
    return c;
  }

  iteration(definitionId: string, ms: number): void {
    const c = this.of(definitionId);
    c.evalNum++;
    c.evalTotalTime += ms;
  }

  failed(definitionId: string, error: RunError | undefined): void {
    const c = this.of(definitionId);
    c.errNum++;
    if (error) c.lastError = { message: error.message, ...(error.code ? { code: error.code } : {}) };
  }

  /** a failed run of the definition went back to pending for a retry (errNum counts final failures only) */
  retried(definitionId: string): void {
    this.of(definitionId).retryNum++;
  }

  /** the definition was restarted (TaskService.restart): every counter starts again from zero */
  reset(definitionId: string): void {
    this.counters.delete(definitionId);
  }

  /** schedule ticks of the definition that no node fired, found by this node */
  missedTicks(definitionId: string, count: number): void {
    this.of(definitionId).missedTicks += count;
  }

  /**
   * Runs of the definition became pending on this node (triggered, or given back unstarted): the
   * count this node keeps between reads of the store, so that `queuePeak` follows every trigger
   * and claim without a storage read on the hot path. Runs other nodes trigger or claim are seen
   * when stats() reads the store's count (observeQueue), so on a cluster the count between two
   * reads is this node's view: a peak may be missed, or counted with runs another node claimed.
   */
  pendingAdded(definitionId: string, count = 1): void {
    const c = this.of(definitionId);
    c.pending += count;
    if (c.pending > c.queuePeak) c.queuePeak = c.pending;
  }

  /** runs of the definition left pending on this node (claimed, aborted) */
  pendingLeft(definitionId: string, count = 1): void {
    const c = this.of(definitionId);
    c.pending = Math.max(0, c.pending - count);
  }

  /** the store's count of pending runs (read by stats()): the count kept here starts again from it */
  observeQueue(definitionId: string, size: number): void {
    const c = this.of(definitionId);
    c.pending = size;
    if (size > c.queuePeak) c.queuePeak = size;
  }

  row(definitionId: string, status: DefinitionStats['status'], queueSize: number): DefinitionStats {
    this.observeQueue(definitionId, queueSize);
    const c = this.of(definitionId);
    const row: DefinitionStats = {
      definitionId,
      status,
      queueSize,
      queuePeak: c.queuePeak,
      evalNum: c.evalNum,
      errNum: c.errNum,
      retryNum: c.retryNum,
      evalTotalTime: Math.round(c.evalTotalTime * 1000) / 1000,
      evalAvgTime: c.evalNum ? Math.round((c.evalTotalTime / c.evalNum) * 1000) / 1000 : 0,
      missedTicks: c.missedTicks,
    };
    if (c.lastError) row.lastError = c.lastError;
    return row;
  }
}
