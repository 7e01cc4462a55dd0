import type { Logger } from 'winston';
import type { Clock } from '../../ports/clock';
import type { ClockSample } from '../../ports/distribution';
import { StoreClock } from './store-clock';

/** a clock this far off the store's is worth a warning */
const CLOCK_SKEW_WARN_MS = 60_000;

/**
 * The engine's time: the shared store's when a distribution reads its clock (see StoreClock),
 * else the node's clock. Due times, leases and schedule ticks are all in this time.
 */
export class EngineClock {
  /** the store's time, from the distribution's readings */
  readonly storeClock = new StoreClock();
  private skewWarned = false;
  private lastIso = { ms: NaN, text: '' };

  constructor(
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly nodeId: string,
  ) {}

  now(): number {
    return this.storeClock.now() ?? this.clock.now();
  }

  /**
   * A reading of the store's clock: from now on the engine keeps its time in the store's. A node
   * clock further off than CLOCK_SKEW_WARN_MS gets one warning per node (code CLOCK_SKEW).
   */
  clockSample(sample: ClockSample): void {
    this.storeClock.add(sample);
    const store = this.storeClock.now();
    if (store === undefined) return;
    const offsetMs = store - this.clock.now();
    if (Math.abs(offsetMs) > CLOCK_SKEW_WARN_MS && !this.skewWarned) {
      this.skewWarned = true;
      const s = (Math.abs(offsetMs) / 1000).toFixed(1);
      this.logger.warn(
        `tasklane: clock skew: this node's clock is ${s} s ${offsetMs < 0 ? 'ahead of' : 'behind'} the shared store's; tasklane keeps due times, leases and schedules in the store's time, but fix the clock (NTP)`,
        { code: 'CLOCK_SKEW', offsetMs: Math.round(offsetMs), nodeId: this.nodeId },
      );
    }
  }

  /** the engine's time as ISO 8601; runs ending in the same millisecond share one string */
  nowIso(): string {
    return this.isoOf(this.now());
  }

  /** epoch ms as ISO 8601, the last one remembered (runs made in one millisecond share it) */
  isoOf(ms: number): string {
    if (ms !== this.lastIso.ms) this.lastIso = { ms, text: new Date(ms).toISOString() };
    return this.lastIso.text;
  }
}
