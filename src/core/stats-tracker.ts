import type { DefinitionStats, RunError } from '../api/types';

interface Counters {
  evalNum: number;
  errNum: number;
  retryNum: number;
  evalTotalTime: number;
  queuePeak: number;
  missedTicks: number;
  lastError?: RunError;
}

/** Per-definition counters of this node (SkySpark-style task stats). */
export class StatsTracker {
  private readonly counters = new Map<string, Counters>();

  private of(id: string): Counters {
    let c = this.counters.get(id);
    if (!c) this.counters.set(id, (c = { evalNum: 0, errNum: 0, retryNum: 0, evalTotalTime: 0, queuePeak: 0, missedTicks: 0 }));
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

  observeQueue(definitionId: string, size: number): void {
    const c = this.of(definitionId);
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
