import { StoreClock } from '../../src/core/runtime/store-clock';

describe('StoreClock', () => {
  it('is undefined until a reading, then the store time advanced on the monotonic clock', async () => {
    const clock = new StoreClock();
    expect(clock.now()).toBeUndefined();
    const mono = performance.now();
    clock.add({ storeMs: 1_000_000, monotonicMs: mono, roundTripMs: 2 });
    const first = clock.now()!;
    expect(first).toBeGreaterThanOrEqual(1_000_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(clock.now()! - first).toBeGreaterThanOrEqual(45);
    expect(clock.now()! - first).toBeLessThan(1000);
  });

  it('uses the reading with the shortest round trip among the last eight', () => {
    const clock = new StoreClock();
    const mono = performance.now();
    clock.add({ storeMs: 5_000_000, monotonicMs: mono, roundTripMs: 40 });
    clock.add({ storeMs: 2_000_000, monotonicMs: mono, roundTripMs: 1 }); // the precise one
    clock.add({ storeMs: 9_000_000, monotonicMs: mono, roundTripMs: 30 });
    expect(Math.abs(clock.now()! - 2_000_000)).toBeLessThan(1000);
    // eight more readings push the precise one out
    for (let i = 0; i < 8; i++) clock.add({ storeMs: 7_000_000, monotonicMs: mono, roundTripMs: 5 });
    expect(Math.abs(clock.now()! - 7_000_000)).toBeLessThan(1000);
  });

  it('ignores unreadable readings and forgets everything on reset', () => {
    const clock = new StoreClock();
    clock.add({ storeMs: Number.NaN, monotonicMs: performance.now(), roundTripMs: 1 });
    clock.add({ storeMs: 1, monotonicMs: performance.now(), roundTripMs: -1 });
    expect(clock.now()).toBeUndefined();
    clock.add({ storeMs: 3_000_000, monotonicMs: performance.now(), roundTripMs: 1 });
    expect(clock.now()).toBeDefined();
    clock.reset();
    expect(clock.now()).toBeUndefined();
  });
});
