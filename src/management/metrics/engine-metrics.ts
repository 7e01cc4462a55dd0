import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DefinitionStats } from '../../api/types';
import type { EngineAccess } from '../../core/observation/engine-access';
import type { TaskService } from '../../core/service/task-service';
import type { RunRecord } from '../../ports/run-record';

/** a stats() read shared by the gauges of one scrape */
const STATS_REUSE_MS = 500;

/**
 * The Prometheus metrics of one node (MANAGEMENT.md section 6), in a registry of their own (two
 * servers in one process do not clash), with prom-client's default process metrics registered
 * once in it. Counters and histograms are fed by the engine's observer hooks; the gauges are read
 * at scrape time. Per node: counters count what this node did (a run's end is counted by the node
 * that ended it, so sums over nodes are the cluster's); `tasklane_queue_size` is the store's count
 * (the same on every node: take the max); `tasklane_queue_peak` and `tasklane_runs_running` are
 * this node's. `tasklane_lease_recoveries_total` counts the runs this node took up after their
 * lease expired, when it takes them up.
 */
export class EngineMetrics {
  readonly registry = new Registry();
  private readonly stopObserving: () => void;
  private readonly stopRetries: () => void;
  private statsRead?: { at: number; rows: Promise<DefinitionStats[]> };

  constructor(
    private readonly service: TaskService,
    private readonly access: EngineAccess,
  ) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const runs = new Counter({
      name: 'tasklane_runs_total',
      help: 'Runs that ended, by definition and final status',
      labelNames: ['definition', 'status'],
      registers,
    });
    const triggered = new Counter({ name: 'tasklane_runs_triggered_total', help: 'Runs triggered on this node', labelNames: ['definition'], registers });
    const aborts = new Counter({
      name: 'tasklane_aborts_total',
      help: 'Aborts that took effect through this node (pending runs aborted, running ones asked to stop)',
      labelNames: ['definition'],
      registers,
    });
    const retries = new Counter({
      name: 'tasklane_retries_total',
      help: 'Retries (a failed execution going back to pending under its retry policy) on this node',
      labelNames: ['definition'],
      registers,
    });
    const recoveries = new Counter({
      name: 'tasklane_lease_recoveries_total',
      help: 'Lease recoveries: runs this node took up again after their lease expired (their node died or stalled)',
      labelNames: ['definition'],
      registers,
    });
    const runDuration = new Histogram({
      name: 'tasklane_run_duration_seconds',
      help: 'Runs from trigger to end',
      labelNames: ['definition', 'status'],
      buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800, 3600, 21600],
      registers,
    });
    const iteration = new Histogram({
      name: 'tasklane_iteration_duration_seconds',
      help: 'Iterations (calls of run()) on this node',
      labelNames: ['definition'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900],
      registers,
    });
    const pickup = new Histogram({
      name: 'tasklane_pickup_delay_seconds',
      help: 'From a run being due to its first iteration starting on this node',
      labelNames: ['definition'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
      registers,
    });
    const gauge = (name: string, help: string, collect: (g: Gauge<'definition'>) => Promise<void> | void) =>
      new Gauge({
        name,
        help,
        labelNames: ['definition'],
        registers,
        async collect() {
          this.reset();
          await collect(this);
        },
      });
    gauge('tasklane_queue_size', "Pending runs per definition (the store's count)", async (g) => {
      for (const row of await this.stats()) g.set({ definition: row.definitionId }, row.queueSize);
    });
    gauge('tasklane_queue_peak', 'The most pending runs per definition seen by this node since its engine started', async (g) => {
      for (const row of await this.stats()) g.set({ definition: row.definitionId }, row.queuePeak);
    });
    gauge('tasklane_runs_running', 'Runs claimed or executing on this node', (g) => {
      for (const [definition, n] of this.access.runningHere()) g.set({ definition }, n);
    });
    new Gauge({
      name: 'tasklane_nodes_live',
      help: 'Live nodes of the cluster (1 on local distribution)',
      registers,
      collect: async function (this: Gauge) {
        this.set((await access.liveNodes()).length);
      },
    });
    const seconds = (ms: number) => Math.max(0, ms) / 1000;
    this.stopObserving = access.observe({
      triggered: (run: RunRecord) => triggered.inc({ definition: run.definitionId }),
      started: (run: RunRecord, pickupDelayMs: number) => pickup.observe({ definition: run.definitionId }, seconds(pickupDelayMs)),
      recovered: (run: RunRecord) => recoveries.inc({ definition: run.definitionId }),
      iterationEnded: (run: RunRecord, durationMs: number) => iteration.observe({ definition: run.definitionId }, seconds(durationMs)),
      ended: (run: RunRecord) => {
        runs.inc({ definition: run.definitionId, status: run.status });
        if (run.finishedOn)
          runDuration.observe({ definition: run.definitionId, status: run.status }, seconds(Date.parse(run.finishedOn) - Date.parse(run.createdOn)));
      },
      abortRequested: (run: RunRecord) => aborts.inc({ definition: run.definitionId }),
    });
    // a retry is announced on the node where it happened (the event is rare: a listener costs nothing worth counting)
    this.stopRetries = service.on('retrying', ({ run }) => retries.inc({ definition: run.definitionId }));
  }

  /** the Prometheus text format, and its content type */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private stats(): Promise<DefinitionStats[]> {
    const now = Date.now();
    if (!this.statsRead || now - this.statsRead.at > STATS_REUSE_MS) this.statsRead = { at: now, rows: this.service.stats() };
    return this.statsRead.rows;
  }

  /** stops observing the engine and empties the registry */
  close(): void {
    this.stopObserving();
    this.stopRetries();
    this.registry.clear();
  }
}
