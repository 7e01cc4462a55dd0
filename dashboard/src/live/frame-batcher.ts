/** Schedules one callback per frame: `requestAnimationFrame` in the page, a fake clock in tests. */
export interface FrameScheduler {
  request(callback: () => void): number;
  cancel(handle: number): void;
}

/**
 * Collects live updates and hands them over at most once per animation frame, merged per key.
 *
 * Why: 50 runs reporting progress every 100 ms is 500 events a second; rendering each would redraw
 * the runs table 500 times a second. Merged per run id and flushed once per frame, the table renders
 * at most once a frame (60/s) with every run's latest state, however fast events come. While the tab
 * is hidden, the browser runs no frames: updates keep merging (one entry per key, so memory stays
 * bounded by the number of keys) and are applied at once when it shows again.
 */
export class FrameBatcher<T> {
  private pending = new Map<string, T>();
  private handle: number | undefined;

  constructor(
    private readonly merge: (previous: T | undefined, next: T) => T,
    private readonly flush: (batch: ReadonlyMap<string, T>) => void,
    private readonly frames: FrameScheduler,
  ) {}

  /** Adds an update; the first one since the last flush asks for a frame. */
  push(key: string, update: T): void {
    this.pending.set(key, this.merge(this.pending.get(key), update));
    if (this.handle === undefined) this.handle = this.frames.request(() => this.run());
  }

  /** Drops what is pending and the frame asked for (the view is going away). */
  dispose(): void {
    if (this.handle !== undefined) this.frames.cancel(this.handle);
    this.handle = undefined;
    this.pending = new Map();
  }

  private run(): void {
    this.handle = undefined;
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size > 0) this.flush(batch);
  }
}
