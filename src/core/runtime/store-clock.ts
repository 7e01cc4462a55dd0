import type { ClockSample } from '../../ports/distribution';

/** readings kept: the one with the shortest round trip is used (as NTP does) */
const SAMPLES = 8;

/**
 * The shared store's time, as this node knows it: from the readings a distribution takes (the
 * PostgreSQL one at every heartbeat), the one with the shortest round trip among the last few,
 * advanced on the monotonic clock. So a node whose wall clock is off, or is set back or forward
 * while it runs, keeps the store's time; `performance.now()` drifts from it by parts per million
 * between readings, and each reading re-anchors it.
 */
export class StoreClock {
  private readonly samples: ClockSample[] = [];
  /** the reading in use; undefined until the first one */
  private anchor: ClockSample | undefined;

  /** the store's time now, or undefined while no reading was taken */
  now(): number | undefined {
    const a = this.anchor;
    return a === undefined ? undefined : Math.round(a.storeMs + (performance.now() - a.monotonicMs));
  }

  /** keeps a reading (a non-finite or negative one is ignored) */
  add(sample: ClockSample): void {
    if (!Number.isFinite(sample.storeMs) || !Number.isFinite(sample.monotonicMs) || !(sample.roundTripMs >= 0)) return;
    this.samples.push({ storeMs: sample.storeMs, monotonicMs: sample.monotonicMs, roundTripMs: sample.roundTripMs });
    if (this.samples.length > SAMPLES) this.samples.shift();
    let best = this.samples[0];
    for (const s of this.samples) if (s.roundTripMs < best.roundTripMs) best = s;
    this.anchor = best;
  }

  /** forgets every reading (a distribution stopped): the local clock is used again */
  reset(): void {
    this.samples.length = 0;
    this.anchor = undefined;
  }
}
