import { InvalidArgumentError } from '../api/errors';
import type { DistributionHost } from '../ports/distribution';
import type { ScheduledJob } from '../ports/scheduler';
import type { RegisteredDefinition } from './definition-registry';
import type { Runtime } from './runtime';
import type { TriggerPipeline } from './trigger-pipeline';
import type { WorkerPool } from './worker-pool';

export type EngineState = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';

export interface StopOptions {
  /** let running iterations finish (within `timeout`) before releasing them (default true) */
  graceful?: boolean;
  /** ms to wait for running iterations (default 30000) */
  timeout?: number;
}

const VERSION = '0.1.0';

/**
 * The node's lifecycle: created -> starting -> started -> stopping -> stopped (-> starting ...).
 * Concurrent start() calls share one promise, stop() is idempotent, and a stopped engine leaves
 * no timer, connection or handle behind. trigger() works before start(): runs wait in storage.
 */
export class TaskEngine {
  private state: EngineState = 'created';
  private starting?: Promise<void>;
  private stopping?: Promise<void>;
  private readonly jobs = new Map<string, ScheduledJob>();

  constructor(
    private readonly rt: Runtime,
    private readonly pool: WorkerPool,
    private readonly pipeline: TriggerPipeline,
  ) {
    rt.registry.onRegister = (def) => {
      if (this.state === 'started') this.schedule(def);
    };
  }

  get status(): EngineState {
    return this.state;
  }

  get nodeId(): string {
    return this.rt.options.nodeId;
  }

  start(): Promise<void> {
    if (this.state === 'started') return Promise.resolve();
    if (this.starting) return this.starting;
    this.starting = (async () => {
      if (this.stopping) await this.stopping;
      this.state = 'starting';
      try {
        await this.rt.ready();
        const host: DistributionHost = {
          node: { nodeId: this.rt.options.nodeId, version: VERSION, accept: this.rt.options.accept, startedOn: this.rt.nowIso() },
          storage: this.rt.storage,
          now: () => this.rt.now(),
          wake: () => this.rt.pump(),
          abortRequested: (runId) => this.pool.abortLocal(runId),
          finished: (notice) => {
            this.rt.finishedElsewhere([notice]).catch((err: unknown) => this.rt.logger.warn('tasklane: could not announce a run finished elsewhere', { error: String(err) }));
          },
          error: (err) => this.rt.logger.warn(`tasklane: distribution recovered from an error: ${err.message}`),
        };
        await this.rt.distribution.start(host);
        this.pool.start();
        for (const def of this.rt.registry.all()) this.schedule(def);
        this.state = 'started';
      } catch (err) {
        this.state = 'stopped';
        this.pool.pause();
        this.pool.stopTimers();
        throw err;
      }
    })().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  stop(options: StopOptions = {}): Promise<void> {
    const graceful = options?.graceful ?? true;
    const timeout = options?.timeout ?? 30_000;
    if (typeof graceful !== 'boolean') return Promise.reject(new InvalidArgumentError('stop(): graceful must be a boolean'));
    if (typeof timeout !== 'number' || !(timeout >= 0)) return Promise.reject(new InvalidArgumentError('stop(): timeout must be a number of ms >= 0'));
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      if (this.starting) await this.starting.catch(() => undefined);
      const wasRunning = this.state === 'started';
      this.state = 'stopping';
      for (const job of this.jobs.values()) job.stop();
      this.jobs.clear();
      this.rt.scheduler.stopAll();
      this.pool.pause();
      await this.pool.claimsSettled(); // a claim under way brings runs back: they are released below
      await this.pool.releaseQueued(); // claimed but not started: they move to other nodes at once
      if (wasRunning && graceful) await this.pool.idle(timeout);
      await this.pool.releaseAll();
      this.pool.stopTimers();
      await Promise.all([this.rt.inserts.drain(), this.rt.logs.drain(), this.rt.updates.drain(), this.rt.reads.drain()]);
      if (wasRunning) await this.rt.distribution.stop().catch((err: unknown) => this.rt.logger.warn('tasklane: distribution stop failed', { error: String(err) }));
      await this.rt.closeStorage();
      this.state = 'stopped';
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private schedule(def: RegisteredDefinition): void {
    const schedule = def.options.schedule;
    if (def.fault || !schedule || this.jobs.has(def.id)) return;
    const job = this.rt.scheduler.schedule(def.id, schedule.cron, (tick) => void this.onTick(def, tick), schedule.timezone);
    this.jobs.set(def.id, job);
  }

  /** a tick becomes a trigger only if storage records it first, and only without a pending one */
  private async onTick(def: RegisteredDefinition, tick: Date): Promise<void> {
    const rt = this.rt;
    if (this.state !== 'started') return;
    const tickIso = tick.toISOString();
    try {
      if (!(await rt.storage.recordScheduleTick(def.id, tickIso))) return;
      const pending = await rt.storage.listRuns({ definition: def.id, status: 'pending', scheduled: true, limit: 1 });
      if (pending.items.length > 0) {
        rt.logger.info(`tasklane: schedule tick ${tickIso} of "${def.id}" skipped: the previous scheduled run is still pending`, { definitionId: def.id });
        return;
      }
      await this.pipeline.trigger({ definition: def.id, input: def.options.schedule?.input }, { scheduledFor: tickIso });
    } catch (err) {
      rt.logger.error(`tasklane: schedule tick ${tickIso} of "${def.id}" failed: ${err instanceof Error ? err.message : String(err)}`, { definitionId: def.id });
    }
  }
}
