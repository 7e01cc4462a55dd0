import type { RunRecord } from '../../ports/run-record';

/**
 * What the engine tells an observer (the management server's metrics) beyond the public events:
 * pickup delays, iteration durations, aborts. Internal: reached through `observeEngine()`.
 *
 * The engine holds one {@link ObserverSet}, made with it and given to the parts that report: each
 * call site is `if (observers.on) observers.x(...)`, one property read on the hot path while
 * nothing is registered.
 * Observers are called synchronously and must be cheap; one that throws is logged and ignored.
 */
export interface EngineObserver {
  /** a trigger on this node stored a new run (an idempotent answer with an existing run is not one) */
  triggered?(run: RunRecord): void;
  /** a run's first iteration starts on this node, `pickupDelayMs` after it was due (engine time) */
  started?(run: RunRecord, pickupDelayMs: number): void;
  /** this node took a run up after its lease expired (the node that held it died or stalled) */
  recovered?(run: RunRecord): void;
  /** an iteration's code answered (or threw) on this node after `durationMs` */
  iterationEnded?(run: RunRecord, durationMs: number): void;
  /**
   * a run ended and this node recorded its end: each end is observed once in the cluster, on the
   * node whose write ended it
   */
  ended?(run: RunRecord): void;
  /** an abort took effect through this node: a pending run aborted, or a running one asked to stop */
  abortRequested?(run: RunRecord): void;
}

type Hook = keyof EngineObserver;

/** The observers of one engine, called in turn; a throwing observer is reported, never rethrown. */
export class ObserverSet implements Required<EngineObserver> {
  private readonly observers = new Set<EngineObserver>();
  /** some observer is registered (read on the hot path before any call) */
  on = false;

  constructor(private readonly report: (error: unknown) => void) {}

  get size(): number {
    return this.observers.size;
  }

  /** adds an observer; returns the function that removes it */
  add(observer: EngineObserver): () => void {
    this.observers.add(observer);
    this.on = true;
    return () => {
      this.observers.delete(observer);
      // none left: the hot path's checks find nothing again
      this.on = this.observers.size > 0;
    };
  }

  triggered(run: RunRecord): void {
    this.each('triggered', (o) => o.triggered?.(run));
  }

  started(run: RunRecord, pickupDelayMs: number): void {
    this.each('started', (o) => o.started?.(run, pickupDelayMs));
  }

  recovered(run: RunRecord): void {
    this.each('recovered', (o) => o.recovered?.(run));
  }

  iterationEnded(run: RunRecord, durationMs: number): void {
    this.each('iterationEnded', (o) => o.iterationEnded?.(run, durationMs));
  }

  ended(run: RunRecord): void {
    this.each('ended', (o) => o.ended?.(run));
  }

  abortRequested(run: RunRecord): void {
    this.each('abortRequested', (o) => o.abortRequested?.(run));
  }

  private each(hook: Hook, call: (o: EngineObserver) => void): void {
    for (const o of this.observers) {
      if (o[hook] === undefined) continue;
      try {
        call(o);
      } catch (err) {
        this.report(err);
      }
    }
  }
}
