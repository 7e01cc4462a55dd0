/** A recurring trigger registered with the scheduler. */
export interface ScheduledJob {
  stop(): void;
  /**
   * The ticks the job fires at (its scheduled times, as `onTick` receives them) strictly after
   * `after` and at most `until`, ascending, at most `max` of them. Used to find the ticks missed
   * while no node was running (the engine bounds the window).
   */
  ticksBetween(after: Date, until: Date, max: number): Date[];
  /** the shortest possible time between two ticks: 1000 with a seconds field, else 60000 */
  readonly resolutionMs: number;
}

/**
 * Scheduler: when recurring work is due. It only computes ticks; the engine turns a tick into a
 * trigger after storage recorded the tick first (once per tick across the cluster).
 *
 * Guarantees:
 * - `validate()` refuses (CronInvalidError naming the field) any malformed expression, any
 *   expression that can never fire, and does so quickly (no huge expansion).
 * - `onTick` receives the tick's scheduled time truncated to the second, identical on every node
 *   for the same tick, whatever each node's timer latency.
 */
export interface Scheduler {
  validate(expression: string, timezone?: string): void;
  /**
   * `onMissed` (optional) receives the scheduled time of a tick the timer could not deliver in
   * time (the event loop was blocked, the machine suspended): never dropped without a word.
   */
  schedule(id: string, expression: string, onTick: (tick: Date) => void, timezone?: string, onMissed?: (tick: Date) => void): ScheduledJob;
  /** stops every job it started */
  stopAll(): void;
}
