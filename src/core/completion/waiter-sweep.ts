import type { Logger } from 'winston';
import type { Distribution } from '../../ports/distribution';
import type { RunStorage } from '../../ports/storage';
import { errorFields } from '../../util/safe-string';
import type { StorageGate } from '../runtime/storage-gate';
import type { RunWaiters } from './run-waiters';

const WAITER_SWEEP_MS = 2000;

/**
 * A safety net for wait(): notices of runs ending elsewhere can be lost (a NOTIFY that failed,
 * a process sharing the file with no distribution between them). While anything is waited for,
 * one timer reads the waited runs in a batch and resolves those that ended. Not needed when
 * every run ends in this process (memory storage).
 *
 * It never answers before the node that ended a run has called the run's hook (API.md: hooks
 * come before wait()): a run this node is finalizing is left to its announcement, and with other
 * nodes, whose announcement normally arrives at once, a run seen ended is resolved at the next
 * sweep, by when the node that ended it has called its hook and announced it.
 */
export class WaiterSweep {
  private timer?: NodeJS.Timeout;
  /** with other nodes: runs the last sweep found ended, resolved if this one finds them again */
  private endedLastSweep = new Set<string>();

  constructor(
    private readonly storage: RunStorage,
    private readonly gate: StorageGate,
    private readonly waiters: RunWaiters,
    private readonly logger: Logger,
    /** the sweep's period when no other node can end runs (the safety poll's) */
    private readonly pollMs: number,
    /** other nodes end runs too: their notices can be lost */
    private readonly distribution: Distribution,
    /** whether this node stored a run's end and is still finalizing it (RunFinisher.isEnding) */
    private readonly endingHere: (runId: string) => boolean,
  ) {
    gate.listen({
      opened: () => {
        if (this.waiters.size > 0) this.watch(); // waits begun while it was closed
      },
      stopping: () => this.stop(), // resumed when storage opens again
    });
  }

  /** something is waited for: the sweep runs until nothing is */
  watch(): void {
    if (this.timer || !this.storage.capabilities.shared) return;
    const every = this.distribution.capabilities.multiNode ? WAITER_SWEEP_MS : this.pollMs;
    this.timer = setInterval(() => void this.sweep(), every);
    this.timer.unref(); // a wait() alone does not keep the process alive
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.endedLastSweep.clear();
  }

  private async sweep(): Promise<void> {
    if (!this.gate.isReady) return;
    if (this.waiters.size === 0) return this.stop();
    try {
      const { ended } = await this.storage.getEndedRuns(this.waiters.ids(1000));
      const twice = this.distribution.capabilities.multiNode;
      const seen = new Set<string>();
      for (const run of ended) {
        if (this.endingHere(run.id)) continue;
        if (!twice || this.endedLastSweep.has(run.id)) this.waiters.resolve(run);
        else seen.add(run.id);
      }
      this.endedLastSweep = seen;
    } catch (err) {
      this.logger.warn('tasklane: reading waited runs failed; retrying', errorFields(err));
    }
  }
}
