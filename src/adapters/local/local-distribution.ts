import type { Distribution, DistributionHost, FinishedNotice, NodeDescriptor, RunnableNotice } from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { ClaimRequest } from '../../ports/storage';
import { DueTimer } from '../shared/due-timer';

/**
 * One node, in process. Claims come from storage (over a durable storage, in batches), delayed
 * runs are woken by one timer, aborts and finishes are delivered to this node only.
 * Several processes may share one SQLite file with it (claims stay atomic), but wait() and
 * events then only see runs that end in the same process: use a multi-node distribution for that.
 */
export class LocalDistribution implements Distribution {
  readonly capabilities = { multiNode: false };
  private host?: DistributionHost;
  private readonly due = new DueTimer(() => this.host?.wake(), { now: () => (this.host ? this.host.now() : Date.now()) });

  async start(host: DistributionHost): Promise<void> {
    this.host = host;
  }

  async stop(): Promise<void> {
    this.due.clear();
    this.host = undefined;
  }

  runnable(notices: RunnableNotice[]): void {
    const host = this.host;
    if (!host) return; // not started: start() claims whatever is due
    const now = host.now();
    let wake = false;
    for (const n of notices) {
      if (n.dueAt <= now) wake = true;
      else this.due.add(n.dueAt);
    }
    if (wake) host.wake();
  }

  claim(request: ClaimRequest): Promise<RunRecord[]> {
    if (!this.host) return Promise.resolve([]);
    return this.host.storage.claimRuns(request);
  }

  async publishAbort(runId: string): Promise<void> {
    this.host?.abortRequested(runId);
  }

  async publishFinished(notices: FinishedNotice[]): Promise<void> {
    for (const n of notices) this.host?.finished(n);
  }

  /** one node: there is no other node whose stats of the definition would start again */
  async publishRestart(): Promise<void> {
    // the restarting node resets its own stats (see Distribution.publishRestart)
  }

  async liveNodes(): Promise<NodeDescriptor[]> {
    return this.host ? [{ ...this.host.node, heartbeatOn: new Date().toISOString() }] : [];
  }
}

export function localDistribution(): LocalDistribution {
  return new LocalDistribution();
}
