import { checkDuration, LongTimeout } from '../../util/duration';
import { errorFields, errorMessage, safeGet } from '../../util/safe-string';
import { InvalidArgumentError } from '../../api/errors';
import type { DistributionHost } from '../../ports/distribution';
import type { ScheduledJob } from '../../ports/scheduler';
import { MAX_BACKFILL_MS, type RegisteredDefinition } from '../definitions/definition-registry';
import type { Logger } from 'winston';
import type { Distribution } from '../../ports/distribution';
import type { Scheduler } from '../../ports/scheduler';
import type { RunStorage } from '../../ports/storage';
import type { RunAborts } from '../abort/run-aborts';
import type { RunFinisher } from '../completion/run-finisher';
import type { DefinitionRegistry } from '../definitions/definition-registry';
import type { WorkerPool } from '../execution/worker-pool';
import type { EventRelay } from '../observation/event-relay';
import type { StatsTracker } from '../observation/stats-tracker';
import type { ResolvedOptions } from '../options';
import type { EngineClock } from '../runtime/engine-clock';
import type { StorageGate } from '../runtime/storage-gate';
import type { PoolWake } from '../runtime/wake';
import type { WriteBatches } from '../runtime/write-batches';
import type { TriggerPipeline } from '../trigger/trigger-pipeline';

/** what the node's lifecycle starts, stops and schedules */
export interface TaskEngineDeps {
  options: ResolvedOptions;
  clock: EngineClock;
  gate: StorageGate;
  storage: RunStorage;
  distribution: Distribution;
  scheduler: Scheduler;
  registry: DefinitionRegistry;
  batches: WriteBatches;
  stats: StatsTracker;
  relay: EventRelay;
  finisher: RunFinisher;
  aborts: RunAborts;
  wake: PoolWake;
  logger: Logger;
  pool: WorkerPool;
  pipeline: TriggerPipeline;
}

export type EngineState = 'created' | 'starting' | 'started' | 'stopping' | 'stopped';

export interface StopOptions {
  /** let running iterations finish (within `timeout`) before releasing them (default true) */
  graceful?: boolean;
  /** ms to wait for running iterations (default 30000) */
  timeout?: number;
}

const VERSION = '0.1.0';

/** how many tick slots (seconds or minutes) back a starting node looks for missed ticks */
const CATCH_UP_SLOTS = 3600;

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
  /** catch-ups of missed ticks waiting for their grace period (see catchUp) */
  private readonly catchUps = new Set<LongTimeout>();

  private readonly pool: WorkerPool;
  private readonly pipeline: TriggerPipeline;

  constructor(private readonly deps: TaskEngineDeps) {
    this.pool = deps.pool;
    this.pipeline = deps.pipeline;
    deps.registry.onRegistered((def) => {
      if (this.state === 'started') this.schedule(def);
    });
  }

  get status(): EngineState {
    return this.state;
  }

  get nodeId(): string {
    return this.deps.options.nodeId;
  }

  start(): Promise<void> {
    if (this.state === 'started') return Promise.resolve();
    if (this.starting) return this.starting;
    this.starting = (async () => {
      if (this.stopping) await this.stopping;
      this.state = 'starting';
      try {
        await this.deps.gate.ready();
        const host: DistributionHost = {
          node: { nodeId: this.deps.options.nodeId, version: VERSION, accept: this.deps.options.accept, startedOn: this.deps.clock.nowIso() },
          storage: this.deps.storage,
          now: () => this.deps.clock.now(),
          clockSample: (sample) => this.deps.clock.clockSample(sample),
          wantsFinished: () => this.deps.finisher.wantsFinished(),
          wake: () => this.deps.wake.pump(),
          abortRequested: (runId) => this.deps.aborts.announced(runId),
          definitionRestarted: (definitionId) => this.deps.stats.reset(definitionId),
          finished: (notice) => {
            this.deps.finisher
              .finishedElsewhere([notice])
              .catch((err: unknown) => this.deps.logger.warn('tasklane: could not announce a run finished elsewhere', errorFields(err)));
          },
          error: (err) => this.deps.logger.warn(`tasklane: distribution recovered from an error: ${errorMessage(err)}`, errorFields(err)),
          eventInterest: (interest) => this.deps.relay.remoteInterest(interest),
          runEvents: (notices) => this.deps.relay.received(notices),
        };
        await this.deps.distribution.start(host);
        this.deps.relay.announceInterest(); // live views registered before this start
        this.pool.start();
        for (const def of this.deps.registry.all()) this.schedule(def);
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
    // read once, and an options object that cannot be read is no options (a stop must always stop)
    const rawGraceful = safeGet(options, 'graceful');
    const rawTimeout = safeGet(options, 'timeout');
    const graceful = rawGraceful === undefined ? true : rawGraceful;
    if (typeof graceful !== 'boolean') return Promise.reject(new InvalidArgumentError('stop(): graceful must be a boolean'));
    let timeout: number;
    try {
      timeout = rawTimeout === undefined ? 30_000 : checkDuration(rawTimeout, 'stop(): timeout');
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.stopping) return this.stopping;
    this.stopping = (async () => {
      if (this.starting) await this.starting.catch(() => undefined);
      const wasRunning = this.state === 'started';
      this.state = 'stopping';
      for (const job of this.jobs.values()) job.stop();
      this.jobs.clear();
      for (const timer of this.catchUps) timer.clear();
      this.catchUps.clear();
      this.deps.scheduler.stopAll();
      this.pool.pause();
      await this.pool.claimsSettled(); // a claim under way brings runs back: they are released below
      await this.pool.releaseQueued(); // claimed but not started: they move to other nodes at once
      if (wasRunning && graceful) await this.pool.idle(timeout);
      await this.pool.releaseAll();
      this.pool.stopTimers();
      // aborts a run's end started (its children, a retry's abort): their storage calls and hooks
      // come before storage closes; bounded, a hook that never returns cannot hold the stop
      await settledWithin(this.deps.aborts.settled(), ABORTS_SETTLE_MS);
      await this.deps.batches.drain();
      if (wasRunning)
        await this.deps.distribution.stop().catch((err: unknown) => this.deps.logger.warn('tasklane: distribution stop failed', errorFields(err)));
      this.deps.relay.stopped();
      this.deps.clock.storeClock.reset();
      await this.deps.gate.close();
      this.state = 'stopped';
    })().finally(() => {
      this.stopping = undefined;
    });
    return this.stopping;
  }

  private schedule(def: RegisteredDefinition): void {
    const schedule = def.options.schedule;
    if (def.fault || !schedule || this.jobs.has(def.id)) return;
    const job = this.deps.scheduler.schedule(
      def.id,
      schedule.cron,
      (tick) => void this.onTick(def, tick),
      schedule.timezone,
      (tick) => void this.onLateTick(def, tick),
    );
    this.jobs.set(def.id, job);
    this.catchUp(def, job, this.deps.clock.now());
  }

  /** a tick of the timer */
  private async onTick(def: RegisteredDefinition, tick: Date): Promise<void> {
    if (this.state !== 'started') return;
    try {
      await this.fire(def, tick, false);
    } catch (err) {
      this.deps.logger.error(`tasklane: schedule tick ${tick.toISOString()} of "${def.id}" failed: ${errorMessage(err)}`, {
        definitionId: def.id,
        ...errorFields(err),
      });
    }
  }

  /**
   * A tick this node's timer could not deliver in time (its event loop was blocked, the machine
   * suspended): handled as a tick found in a gap, since another node may have fired it meanwhile.
   */
  private async onLateTick(def: RegisteredDefinition, tick: Date): Promise<void> {
    if (this.state !== 'started') return;
    try {
      await this.fireMissed(def, [tick], 'late');
    } catch (err) {
      this.deps.logger.error(`tasklane: late schedule tick ${tick.toISOString()} of "${def.id}" failed: ${errorMessage(err)}`, {
        definitionId: def.id,
        ...errorFields(err),
      });
    }
  }

  /** a tick becomes a trigger only if storage records it first, and only without a pending one */
  private async fire(def: RegisteredDefinition, tick: Date, backfilled: boolean): Promise<void> {
    const deps = this.deps;
    const tickIso = tick.toISOString();
    if (!(await deps.storage.recordScheduleTick(def.id, tickIso))) return;
    const pending = await deps.storage.listRuns({ definition: def.id, status: 'pending', scheduled: true, limit: 1 });
    if (pending.items.length > 0) {
      deps.logger.info(`tasklane: schedule tick ${tickIso} of "${def.id}" skipped: the previous scheduled run is still pending`, { definitionId: def.id });
      return;
    }
    // a timer on a clock ahead of the store's fires early: the run waits for the tick in store time
    const early = tick.getTime() - deps.clock.now();
    await this.pipeline.trigger(
      { definition: def.id, input: def.options.schedule?.input, ...(early > 0 ? { delay: early } : {}) },
      { scheduledFor: tickIso, ...(backfilled ? { backfilled } : {}) },
    );
  }

  /**
   * The ticks between the latest one recorded (by any node) and the moment this node's timer
   * started were fired by no node: none was running. After a short grace period (a live node's
   * late timer records its tick first), the latest of them is fired, flagged `backfilled`, when the
   * schedule has a `backfill` window it falls in; the others are missed. Missed ticks are recorded
   * once for the cluster: the node that records the latest of them counts them all (`missedTicks`
   * in stats) and logs one warning. Looks back at most 3600 tick slots (1 h of seconds, 24 h of
   * minutes at most); a schedule never recorded before has missed nothing.
   */
  private catchUp(def: RegisteredDefinition, job: ScheduledJob, startedAt: number): void {
    const deps = this.deps;
    deps.storage
      .lastScheduleTick(def.id)
      .then((last) => {
        if (last === null || this.jobs.get(def.id) !== job) return;
        const lastMs = Date.parse(last);
        if (!Number.isFinite(lastMs)) return;
        const lookback = Math.min(MAX_BACKFILL_MS, job.resolutionMs * CATCH_UP_SLOTS);
        const ticks = job.ticksBetween(new Date(Math.max(lastMs, startedAt - lookback)), new Date(startedAt), CATCH_UP_SLOTS);
        if (ticks.length === 0) return;
        const timer = new LongTimeout(
          () => {
            this.catchUps.delete(timer);
            if (this.jobs.get(def.id) !== job) return;
            this.fireMissed(def, ticks, 'gap').catch((err: unknown) =>
              deps.logger.error(`tasklane: catching up the missed ticks of "${def.id}" failed: ${errorMessage(err)}`, {
                definitionId: def.id,
                ...errorFields(err),
              }),
            );
          },
          Math.max(0, startedAt + deps.options.catchUpGraceMs - deps.clock.now()),
          true,
        );
        this.catchUps.add(timer);
      })
      .catch((err: unknown) => {
        if (this.jobs.get(def.id) !== job) return; // stopped meanwhile: the next start looks again
        deps.logger.error(`tasklane: could not look for missed ticks of "${def.id}": ${errorMessage(err)}`, { definitionId: def.id, ...errorFields(err) });
      });
  }

  private async fireMissed(def: RegisteredDefinition, ticks: Date[], cause: 'gap' | 'late'): Promise<void> {
    const deps = this.deps;
    if (this.state !== 'started') return;
    const latest = ticks[ticks.length - 1];
    let missed = ticks;
    if (def.backfillMs !== undefined && latest.getTime() >= deps.clock.now() - def.backfillMs) {
      missed = ticks.slice(0, -1);
      await this.fire(def, latest, true);
    }
    if (missed.length === 0 || this.state !== 'started') return;
    const from = missed[0].toISOString();
    const to = missed[missed.length - 1].toISOString();
    if (!(await deps.storage.recordScheduleTick(def.id, to))) return; // another node reports this gap
    deps.stats.missedTicks(def.id, missed.length);
    const why =
      def.backfillMs === undefined
        ? 'the schedule has no backfill'
        : missed.length === ticks.length
          ? 'older than its backfill window'
          : 'only the latest tick is backfilled';
    const what = cause === 'gap' ? 'no node was running it' : "this node's timer fired it too late (event loop blocked, or the machine suspended)";
    deps.logger.warn(`tasklane: schedule of "${def.id}" missed ${missed.length} tick(s) from ${from} to ${to}: ${what} (${why})`, {
      definitionId: def.id,
      missedTicks: missed.length,
      from,
      to,
    });
  }
}

/** how long stop() waits for the aborts a run's end started (see RunAborts.settled) */
const ABORTS_SETTLE_MS = 10_000;

/** `work`, or `ms` later, whichever comes first (its timer cleared either way) */
async function settledWithin(work: Promise<void>, ms: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([work, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
