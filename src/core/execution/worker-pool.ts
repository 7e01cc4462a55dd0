import { errorFields } from '../../util/safe-string';
import { LeaseLostError } from '../../api/errors';
import { LongTimeout, MAX_TIMER_MS } from '../../util/duration';
import type { RunRecord } from '../../ports/run-record';
import type { ClaimSlot, UpdateResult } from '../../ports/storage';
import { accepts } from '../definitions/accept-rules';
import { Execution, type ExecutionOwner } from './execution';
import type { RunExecutor } from './run-executor';
import type { Logger } from 'winston';
import type { Distribution } from '../../ports/distribution';
import type { RunStorage } from '../../ports/storage';
import type { RunAborts } from '../abort/run-aborts';
import type { DefinitionRegistry } from '../definitions/definition-registry';
import type { StatsTracker } from '../observation/stats-tracker';
import type { ResolvedOptions } from '../options';
import type { EngineClock } from '../runtime/engine-clock';
import type { StorageGate } from '../runtime/storage-gate';
import type { PoolWake } from '../runtime/wake';
import type { WriteBatches } from '../runtime/write-batches';
import type { BacklogLimiter } from '../trigger/backlog-limiter';
import type { ActiveExecutions } from './active-executions';
import type { InlineFunctions } from './inline-functions';

/** what the pool claims from, writes to and tells */
export interface WorkerPoolDeps {
  options: ResolvedOptions;
  clock: EngineClock;
  gate: StorageGate;
  storage: RunStorage;
  distribution: Distribution;
  registry: DefinitionRegistry;
  batches: WriteBatches;
  backlog: BacklogLimiter;
  stats: StatsTracker;
  inline: InlineFunctions;
  /** the runs claimed or executing here (shared with aborts, which fire their signals) */
  active: ActiveExecutions;
  aborts: RunAborts;
  wake: PoolWake;
  logger: Logger;
  executor: RunExecutor;
}

const SWEEP_MS = 25;
const MAX_CLAIMS_IN_FLIGHT = 2;
/** while there is a backlog, runs claimed ahead, as a multiple of the pool size */
const PREFETCH_FACTOR = 3;
/** iterations shorter than this on average (ms) make claiming ahead worthwhile */
const SHORT_ITERATION_MS = 50;
/** how long a run claimed ahead may wait for a slot before it is given back */
const MAX_QUEUED_MS = 250;

/**
 * The node's worker pool: claims runnable runs within its free slots (fair across definitions,
 * within each definition's cluster-wide concurrency), executes them, renews their leases, and on
 * stop lets them finish or releases them.
 */
export class WorkerPool implements ExecutionOwner {
  readonly active: ActiveExecutions;
  private readonly executor: RunExecutor;
  private running = false;
  private claimsInFlight = 0;
  private readonly claims = new Set<Promise<void>>();
  /** claimed (leased) runs waiting for a slot */
  private readonly queued: Execution[] = [];
  /** slots taken by iterations whose code runs (an iteration being written holds none) */
  private busy = 0;
  /** slots promised to claims in flight */
  private reserved = 0;
  private claimAgain = false;
  /** startQueued() is under way */
  private starting = false;
  private pumpScheduled = false;
  private pollTimer?: NodeJS.Timeout;
  private sweepTimer?: NodeJS.Timeout;
  private renewTimer?: NodeJS.Timeout;
  private idleWaiters: Array<() => void> = [];
  private claimFailures = 0;
  private readonly minBatch: number;
  private backlog = false;
  /** moving average of this node's iteration times (ms) */
  private iterationMs = 0;
  /** the safety poll ticked since the last claim */
  private pollDue = false;

  constructor(private readonly deps: WorkerPoolDeps) {
    this.active = deps.active;
    this.executor = deps.executor;
    this.minBatch = Math.max(1, Math.floor(deps.options.concurrency / 4));
  }

  /** iterations whose code was started here and have not ended (claimed-ahead runs excluded) */
  private get started(): number {
    return this.active.size - this.queued.length;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.executor.resume();
    this.deps.wake.listen(() => this.pump());
    // a started engine keeps its process alive, like a server: stop() clears these timers
    // intervals are capped at what a Node timer holds (a longer one fires every millisecond):
    // polling or renewing more often than asked is harmless
    this.pollTimer = setInterval(
      () => {
        this.pollDue = true;
        this.pump();
      },
      Math.min(this.deps.options.pollMs, MAX_TIMER_MS),
    );
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    const renewEvery = Math.min(Math.max(50, Math.floor(this.deps.options.leaseMs / 3)), MAX_TIMER_MS);
    this.renewTimer = setInterval(() => void this.renew(), renewEvery);
    this.pump();
  }

  /** claims nothing more; running iterations go on */
  pause(): void {
    this.running = false;
    this.deps.wake.unlisten();
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
  }

  /** waits until no iteration runs here, or `timeoutMs` passed: true when idle */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.started === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = new LongTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        timer.clear();
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }

  /** fires the signals of the remaining iterations and puts their runs back to `pending` */
  async releaseAll(): Promise<void> {
    await this.releaseQueued();
    await this.release([...this.active.values()]);
  }

  private async release(execs: Execution[], unclaim = false): Promise<void> {
    const shutdown = new Error('The engine is stopping: this iteration was released and will run again');
    shutdown.name = 'ShutdownError';
    const releasing = execs.filter((exec) => !exec.settled && !exec.detached);
    if (releasing.length === 0) return;
    // runs going back to pending raise the maxBacklog counts: none is trusted until they are back
    const backlog = this.deps.backlog;
    backlog.returning();
    const releases: Array<Promise<UpdateResult>> = [];
    let released: Array<PromiseSettledResult<UpdateResult>>;
    try {
      for (const exec of releasing) {
        exec.detached = true;
        exec.settled = true;
        exec.fire(shutdown);
        releases.push(
          this.deps.batches.updates.add({
            id: exec.run.id,
            leaseToken: exec.run.leaseToken!,
            status: 'pending',
            dueAt: this.deps.clock.now(),
            progress: exec.progress,
            unclaim,
          }),
        );
      }
      released = await Promise.allSettled(releases);
    } finally {
      backlog.returned();
    }
    await this.deps.batches.updates.drain();
    // tell the other nodes at once: released runs should move now, not at their next poll
    const notices = released.flatMap((r) =>
      r.status === 'fulfilled' && r.value.ok ? [{ id: r.value.run.id, definitionId: r.value.run.definitionId, dueAt: r.value.run.dueAt }] : [],
    );
    // runs claimed ahead and given back are pending again, as their claim had counted them out
    if (unclaim) {
      released.forEach((r, i) => {
        if (r.status === 'fulfilled' && r.value.ok && leftPending(releasing[i].run)) this.deps.stats.pendingAdded(releasing[i].run.definitionId);
      });
    }
    if (notices.length) this.deps.distribution.runnable(notices);
  }

  /** stops the pool's timers, and the executor's write retries (tried once more now: see RunExecutor.halt) */
  stopTimers(): void {
    this.executor.halt();
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.renewTimer = undefined;
    this.sweepTimer = undefined;
  }

  /**
   * One timer for every iteration's timeout: at most the pool's size to look at, every SWEEP_MS,
   * instead of two timers created and cleared per iteration on the hot path.
   */
  private sweep(): void {
    if (this.active.size === 0) return;
    // runs claimed ahead wait here only briefly: when slots stay taken (long iterations), they go
    // back to the store for other nodes, and claiming ahead stops until the next full claim
    if (this.queued.length > 0 && performance.now() - this.queued[0].claimedAt > MAX_QUEUED_MS) {
      this.backlog = false;
      void this.releaseQueued();
    }
    const now = this.deps.clock.now();
    for (const exec of this.active.values()) {
      if (exec.settled || exec.detached) continue;
      if (now >= exec.graceDeadline) this.executor.graceExpired(exec);
      else if (now >= exec.deadline && !exec.timedOut) {
        exec.timedOut = true;
        this.executor.timedOut(exec);
      }
    }
  }

  pump(): void {
    if (!this.running || this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(this.pumped);
  }

  /** one function for every pump (this runs once per iteration or more) */
  private readonly pumped = (): void => {
    this.pumpScheduled = false;
    void this.claim();
  };

  private slots(free: number): ClaimSlot[] {
    const slots: ClaimSlot[] = [];
    for (const def of this.deps.registry.all()) {
      if (def.fault) continue;
      // accept rules apply to distributable definitions; pinned runs reach only their node anyway
      if (def.distributable && !accepts(this.deps.options.accept, def.id)) continue;
      slots.push({ definitionId: def.id, max: Math.min(free, def.concurrency ?? free), concurrency: def.concurrency });
    }
    // inline runs are pinned to the node holding their function: claim them when it has some,
    // and at each safety poll, which takes up (and fails, NODE_LOST) those of dead nodes
    if (this.deps.inline.size > 0 || this.pollDue) slots.push({ definitionId: 'inline', max: free });
    this.pollDue = false;
    return slots;
  }

  /**
   * Claims for the free slots, and while there is a backlog for as many again: those wait here,
   * leased, and start as slots free up, so the next batch is at hand while a store round trip is
   * under way. Up to MAX_CLAIMS_IN_FLIGHT claims overlap, each reserving what it asks for.
   */
  private claim(): Promise<void> {
    const work = this.claimOnce();
    this.claims.add(work);
    void work.finally(() => this.claims.delete(work));
    return work;
  }

  /** resolves once no claim is under way (a stop waits for them, then gives their runs back) */
  async claimsSettled(): Promise<void> {
    while (this.claims.size > 0) await Promise.allSettled([...this.claims]);
  }

  private async claimOnce(): Promise<void> {
    if (!this.running) return;
    if (this.claimsInFlight >= MAX_CLAIMS_IN_FLIGHT) {
      this.claimAgain = true;
      return;
    }
    const size = this.deps.options.concurrency;
    const held = this.busy + this.queued.length + this.reserved;
    // claiming ahead pays only when iterations are short; long ones would leave the runs idle here
    const ahead = this.backlog && this.iterationMs < SHORT_ITERATION_MS ? PREFETCH_FACTOR * size : 0;
    const want = size + ahead - held;
    if (want <= 0) return;
    // claim in batches: while there is a backlog, wait until a quarter of the pool can be
    // claimed, so one claim transaction serves many runs; without a backlog every free slot is
    // offered at once, so nothing waits for a batch
    if (this.backlog && this.busy > 0 && want < this.minBatch) return;
    const slots = this.slots(want);
    if (slots.length === 0) return; // a node that accepts nothing only triggers
    this.claimsInFlight++;
    this.reserved += want;
    let runs: RunRecord[] = [];
    try {
      if (!this.deps.gate.isReady) await this.deps.gate.ready();
      runs = await this.deps.distribution.claim({
        nodeId: this.deps.options.nodeId,
        now: this.deps.clock.now(),
        leaseMs: this.deps.options.leaseMs,
        limit: want,
        slots,
      });
      this.claimFailures = 0;
      this.backlog = runs.length === want;
    } catch (err) {
      this.claimFailures++;
      this.backlog = false;
      this.deps.logger.error('tasklane: claiming runs failed; retrying on the next poll', { ...errorFields(err), failures: this.claimFailures });
    } finally {
      this.reserved -= want;
      this.claimsInFlight--;
    }
    for (const run of runs) {
      if (!leftPending(run)) continue;
      this.deps.stats.pendingLeft(run.definitionId);
      if (this.deps.backlog.active) this.deps.backlog.left(run.definitionId);
    }
    const reading = this.deps.aborts.abortedParents(runs);
    const abortedParents = reading ? await reading : undefined;
    for (const run of runs) {
      const exec = new Execution(run, this.deps.registry.get(run.definitionId), this, this.executor);
      // ends aborted without running when its parent is: see RunAborts.abortedParents
      if (abortedParents !== undefined) this.deps.aborts.startsAborted(exec, abortedParents);
      this.active.set(run.id, exec);
      this.queued.push(exec);
    }
    if (!this.running) {
      // the pool paused while this claim was under way (a stop): give the runs back at once
      void this.releaseQueued();
      return;
    }
    this.startQueued();
    if (this.backlog || this.claimAgain) {
      this.claimAgain = false;
      this.pump();
    }
  }

  /**
   * Starts claimed runs while the pool has free slots. An iteration whose code answers at once
   * frees its slot while this loop runs: the loop picks that up rather than recursing.
   */
  private startQueued(): void {
    if (this.starting) return;
    this.starting = true;
    try {
      while (this.running && this.busy < this.deps.options.concurrency && this.queued.length > 0) {
        const exec = this.queued.shift()!;
        this.busy++;
        this.executor.execute(exec);
      }
    } finally {
      this.starting = false;
    }
  }

  /** ExecutionOwner: the iteration's code answered (or was given up on) */
  slotReleased(exec: Execution): void {
    // the code's time only: a slow write must not make iterations look long (see `ahead`)
    this.iterationMs += (performance.now() - exec.startedAt - this.iterationMs) / 16;
    this.busy--;
    this.startQueued();
    this.pump();
  }

  /** puts the claimed runs that have not started back to `pending` (a stop releases them at once) */
  async releaseQueued(): Promise<void> {
    const queued = this.queued.splice(0);
    for (const exec of queued) this.active.delete(exec.run.id);
    await this.release(queued, true);
  }

  /** ExecutionOwner: the iteration is over (written and finalised, or given up) */
  completed(exec: Execution): void {
    if (this.active.get(exec.run.id) === exec) this.active.delete(exec.run.id);
    if (this.started === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    this.pump();
  }

  private renewing = false;
  private async renew(): Promise<void> {
    if (this.renewing || this.active.size === 0) return;
    this.renewing = true;
    try {
      const leases = [...this.active.values()].filter((e) => !e.detached && !e.settled).map((e) => ({ id: e.run.id, leaseToken: e.run.leaseToken! }));
      if (leases.length === 0) return;
      const result = await this.deps.storage.renewLeases(this.deps.options.nodeId, leases, this.deps.clock.now(), this.deps.options.leaseMs);
      for (const id of result.lost) {
        const exec = this.active.get(id);
        if (!exec || exec.settled) continue;
        exec.detached = true;
        exec.fire(new LeaseLostError(id));
        this.deps.logger.warn(`tasklane: LEASE_LOST on run ${id}: another node took it over; this iteration's answer will be discarded`, {
          runId: id,
          code: 'LEASE_LOST',
        });
      }
      for (const id of result.abortRequested) this.deps.aborts.abortLocal(id);
    } catch (err) {
      this.deps.logger.warn('tasklane: lease renewal failed; retrying', errorFields(err));
    } finally {
      this.renewing = false;
    }
  }
}

/**
 * A claimed run that was pending before this claim (its first iteration, never recovered): what
 * moves the pending counts. Parked runs resumed and runs taken over at lease expiry were running.
 */
function leftPending(run: RunRecord): boolean {
  return run.iterations === 1 && run.recoveries === 0;
}
