/**
 * Groups the calls made in one turn of the event loop into one call of `flush`, so concurrent
 * triggers share one storage transaction (group commit), and completions share another.
 * Items flushed together resolve together; a flush that throws rejects each of its items.
 */
export class Batcher<T, R> {
  private queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  private scheduled = false;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly flush: (items: T[]) => Promise<R[]>,
    private readonly maxBatch = 500,
  ) {}

  add(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.maxBatch) this.run();
      else if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => this.run());
      }
    });
  }

  /** nothing queued, nothing being flushed */
  get idle(): boolean {
    return this.queue.length === 0 && this.inFlight === 0;
  }

  /** resolves once nothing is queued or being flushed */
  async drain(): Promise<void> {
    while (this.queue.length > 0 || this.inFlight > 0) {
      if (this.queue.length > 0 && this.inFlight === 0) this.run();
      await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    }
  }

  private run(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.maxBatch);
    if (this.queue.length > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.run());
    }
    this.inFlight++;
    this.flush(batch.map((b) => b.item)).then(
      (results) => {
        for (let i = 0; i < batch.length; i++) batch[i].resolve(results[i]);
      },
      (err: unknown) => {
        for (const b of batch) b.reject(err);
      },
    ).finally(() => {
      this.inFlight--;
      if (this.inFlight === 0) {
        // drain() re-checks the queue, so waking it while items remain is harmless
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    });
  }
}
