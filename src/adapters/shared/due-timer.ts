import { MinHeap } from '../../util/min-heap';

/**
 * One timer for every delayed run: a heap of due times and a single setTimeout armed for the
 * earliest. Duplicate due times are harmless (a wake-up only makes the pool claim).
 */
export class DueTimer {
  private readonly heap = new MinHeap();
  private timer?: NodeJS.Timeout;
  private armedFor = Infinity;

  constructor(
    private readonly onDue: () => void,
    private readonly options: {
      /** the clock due times are in (default Date.now) */
      now?: () => number;
      /** due times remembered at most; beyond, a safety poll must cover (default unbounded) */
      maxSize?: number;
      /** the timer does not keep the process alive */
      unref?: boolean;
    } = {},
  ) {}

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  add(dueAt: number): void {
    if (this.options.maxSize !== undefined && this.heap.size >= this.options.maxSize) return;
    this.heap.push(dueAt);
    this.arm();
  }

  private arm(): void {
    const next = this.heap.peek();
    if (next === undefined) return;
    if (this.timer && this.armedFor <= next) return;
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = next;
    // timers are capped at 2^31-1 ms; a later due time re-arms when this one fires
    const wait = Math.min(Math.max(0, next - this.now()), 2_147_483_647);
    this.timer = setTimeout(() => this.fire(), wait);
    if (this.options.unref) this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const now = this.now();
    let due = false;
    while (this.heap.size > 0 && this.heap.peek()! <= now) {
      this.heap.pop();
      due = true;
    }
    if (due) this.onDue();
    this.arm();
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
    this.heap.clear();
  }
}
