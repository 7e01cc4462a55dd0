/**
 * The wake-up of the node's worker pool, created before both sides: the parts that free a slot
 * or learn of new work (a run ended, a definition enabled, the distribution's notice) call
 * `pump()`; the pool listens while it is started. Nothing listens before start() or after a stop,
 * and a pump then does nothing.
 */
export class PoolWake {
  private listener?: () => void;

  /** asks the pool to claim again soon */
  pump(): void {
    this.listener?.();
  }

  /** the pool started: it hears the pumps from now on */
  listen(listener: () => void): void {
    this.listener = listener;
  }

  /** the pool paused: pumps do nothing */
  unlisten(): void {
    this.listener = undefined;
  }
}
