import { createTask, type ScheduledTask, type TaskContext as CronContext, type Logger as CronLogger } from 'node-cron';
import type { ScheduledJob, Scheduler } from '../../ports/scheduler';
import { assertTimezone, parseCronExpression, type ParsedCron } from './cron-expression';

// the expression's parser lives in cron-expression.ts; these stay importable from here
export { assertTimezone, MAX_CRON_EXPRESSION_LENGTH, parseCronExpression, type ParsedCron } from './cron-expression';

export interface CronSchedulerOptions {
  /**
   * Where node-cron's own warnings and errors go (a winston logger fits). Default: dropped; the
   * scheduler catches what `onTick` throws itself.
   */
  logger?: { warn(message: string, ...meta: unknown[]): unknown; error(message: string, ...meta: unknown[]): unknown };
  /**
   * A tick whose timer fires late (event loop blocked, machine suspended) is still delivered, with
   * its scheduled time, if it is at most this many ms late and the next tick is not due yet.
   * Older ticks are reported to `onMissed`. Default 60 s (node-cron's own default is 1 s, which
   * would drop a tick on any node whose event loop stalled for a second).
   */
  lateToleranceMs?: number;
  /** called with the scheduled time of each tick that was not delivered */
  onMissed?: (id: string, tick: Date) => void;
  /** do not let the scheduler's timers keep the process alive (default false) */
  unref?: boolean;
}

const DEFAULT_LATE_TOLERANCE_MS = 60_000;

function toSecond(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/**
 * The scheduled time node-cron reports for a tick. node-cron 4 plans each tick as a whole-second
 * slot computed by its matcher and hands that slot as `context.date` (not the time its timer
 * actually fired), so it is the same on every node for the same tick. It is truncated to the
 * second anyway, and if a future node-cron stopped providing it, `Date.now()` floored to the
 * second is the fallback (correct when the timer is on time, which is the common case).
 */
function tickTime(context: CronContext | undefined): Date {
  const date = context?.date;
  const ms = date instanceof Date ? date.getTime() : Number.NaN;
  return toSecond(Number.isFinite(ms) ? ms : Date.now());
}

class CronJob implements ScheduledJob {
  private stopped = false;
  readonly resolutionMs: number;

  constructor(
    private readonly task: ScheduledTask,
    private readonly onStop: (job: CronJob) => void,
    hasSeconds: boolean,
  ) {
    this.resolutionMs = hasSeconds ? 1000 : 60_000;
  }

  /** node-cron's own matcher (time zone included) at every whole second or minute of the window */
  ticksBetween(after: Date, until: Date, max: number): Date[] {
    const step = this.resolutionMs;
    const end = until.getTime();
    const out: Date[] = [];
    if (!Number.isFinite(end) || !Number.isFinite(after.getTime())) return out;
    for (let t = Math.floor(after.getTime() / step) * step + step; t <= end && out.length < max; t += step) {
      const date = new Date(t);
      if (this.task.match(date)) out.push(date);
    }
    return out;
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.onStop(this);
    // destroy() stops the timer and takes the task out of node-cron's global registry (stop()
    // alone would leave it there forever). It is synchronous for in-process tasks.
    const done = this.task.destroy();
    if (done && typeof (done as Promise<void>).catch === 'function') (done as Promise<void>).catch(() => undefined);
  }
}

/**
 * The cron scheduler, on node-cron 4. Every expression is first checked by the strict parser of
 * cron-expression.ts (its comment says what is accepted, and why), and node-cron is handed the
 * parser's canonical expression, never the user's text.
 */
export class CronScheduler implements Scheduler {
  private readonly jobs = new Set<CronJob>();
  private readonly logger: CronLogger;

  constructor(private readonly options: CronSchedulerOptions = {}) {
    const target = options.logger;
    const format = (message: string | Error): string => (message instanceof Error ? message.message : message);
    this.logger = {
      info: () => undefined,
      debug: () => undefined,
      warn: (message) => void target?.warn(`node-cron: ${message}`),
      error: (message, err) => void target?.error(`node-cron: ${format(message)}`, err ?? (message instanceof Error ? message : undefined)),
    };
  }

  validate(expression: string, timezone?: string): void {
    parseCronExpression(expression);
    assertTimezone(expression, timezone);
  }

  /** Parses without scheduling: the fields, for callers that compute ticks themselves. */
  parse(expression: string): ParsedCron {
    return parseCronExpression(expression);
  }

  schedule(id: string, expression: string, onTick: (tick: Date) => void, timezone?: string, onMissedTick?: (tick: Date) => void): ScheduledJob {
    const parsed = parseCronExpression(expression);
    assertTimezone(expression, timezone);
    if (typeof onTick !== 'function') throw new TypeError('schedule(): onTick must be a function');

    let job: CronJob | undefined;
    const deliver = (context: CronContext): void => {
      if (job === undefined || job.isStopped) return; // a beat already under way when stop() ran
      const tick = tickTime(context);
      try {
        const result: unknown = onTick(tick);
        if (result instanceof Promise) result.catch((err: unknown) => this.logger.error(`onTick of "${id}" failed`, err as Error));
      } catch (err) {
        this.logger.error(`onTick of "${id}" failed`, err as Error);
      }
    };

    const task = createTask(parsed.canonical, deliver, {
      name: `tasklane:${id}`,
      ...(timezone !== undefined ? { timezone } : {}),
      noOverlap: false,
      logger: this.logger,
      suppressMissedWarning: true,
      missedExecutionTolerance: this.options.lateToleranceMs ?? DEFAULT_LATE_TOLERANCE_MS,
      unref: this.options.unref ?? false,
    });
    job = new CronJob(task, (j) => this.jobs.delete(j), parsed.hasSeconds);
    const onMissed = this.options.onMissed;
    if (onMissed || onMissedTick) {
      task.on('execution:missed', (context) => {
        if (job === undefined || job.isStopped) return;
        const tick = tickTime(context);
        try {
          onMissed?.(id, tick);
          onMissedTick?.(tick);
        } catch (err) {
          this.logger.error(`onMissed of "${id}" failed`, err as Error);
        }
      });
    }
    this.jobs.add(job);
    try {
      const started = task.start();
      if (started && typeof (started as Promise<void>).catch === 'function') (started as Promise<void>).catch(() => undefined);
    } catch (err) {
      job.stop();
      throw err;
    }
    return job;
  }

  stopAll(): void {
    for (const job of [...this.jobs]) job.stop();
    this.jobs.clear();
  }

  /** Number of jobs started and not stopped. */
  get size(): number {
    return this.jobs.size;
  }
}

/** The node-cron scheduler (API.md: `cronScheduler()`). */
export function cronScheduler(options?: CronSchedulerOptions): CronScheduler {
  return new CronScheduler(options);
}
