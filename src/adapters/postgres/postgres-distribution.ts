import { MAX_TIMER_MS } from '../../util/duration';
import { InvalidArgumentError, StorageError, TasklaneError } from '../../api/errors';
import type {
  Distribution,
  DistributionCapabilities,
  DistributionHost,
  EventInterest,
  FinishedNotice,
  NodeDescriptor,
  RunEventNotice,
  RunnableNotice,
} from '../../ports/distribution';
import type { RunRecord } from '../../ports/run-record';
import type { ClaimRequest } from '../../ports/storage';
import type { HostTransaction, MaybePromise, PostgresTransaction } from '../../ports/transaction';
import { DueTimer } from '../shared/due-timer';
import { pgDriver } from '../shared/drivers';
import { migrate, quoteSchema } from './postgres-migrations';
import { PostgresStorage } from './postgres-storage';
import { connect, destroySocket, storageFailure, withTimeout } from './pg-support';
import { channelsFor, type Channels } from './distribution/channels';
import { DistributionPool } from './distribution/distribution-pool';
import type { DistributionContext } from './distribution/context';
import { EventRelay } from './distribution/event-relay';
import { FinishReplay } from './distribution/finish-replay';
import { onNotification } from './distribution/incoming-notices';
import { ListenLink } from './distribution/listen-link';
import { NodeRegistry } from './distribution/node-registry';
import { INLINE_DEFINITION } from './distribution/notices';
import { positive, type PostgresDistributionOptions } from './distribution/options';
import { Outbox } from './distribution/outbox';
import { wakeInTransaction } from './distribution/wake-in-transaction';
import { withShortLivedClient } from './distribution/pg-clients';

/** distinct future due times remembered for the local timer */
const MAX_DUE_TIMES = 100_000;

/**
 * A cluster of nodes sharing one PostgreSQL database. Its parts are in `./distribution/`: the
 * LISTEN link, the outgoing notices, the node registry, the event relay, the replay of finishes;
 * this class starts and stops them and holds what they share.
 *
 * - **Claims** go to `host.storage.claimRuns`: the storage must be a {@link PostgresStorage} on the
 *   same database (its `FOR UPDATE SKIP LOCKED` claims and advisory locks are what make work-sharing
 *   and cluster-wide concurrency limits correct). `start()` refuses a storage that is not shared.
 * - **Wake-ups**: `runnable()` wakes this node at once for what is due now, keeps one local timer for
 *   the earliest future due time it knows (its own and other nodes' notices), and sends other nodes
 *   one NOTIFY per event-loop tick (notices coalesced by definition). A slow poll (`pollMs`) is only
 *   a safety net. Runs stored through a host's transaction are announced by one NOTIFY sent in
 *   that transaction (`runnableInTransaction`): delivered at commit, to this node as well.
 * - **Signals**: aborts and finishes travel as NOTIFY on channels `<schema>.abort` / `<schema>.finish`;
 *   the publishing node delivers to itself at once and ignores its own echo. Restarts of a
 *   definition (`TaskService.restart`) travel on `<schema>.restart`, to the other nodes only.
 * - **LISTEN link**: a dedicated connection, checked with `SELECT 1` every `heartbeatMs` (a half-open
 *   link is detected within about two heartbeats), replaced on error/end/timeout with back-off, and
 *   re-subscribed exactly once per connection. After a reconnect the node wakes (it may have missed
 *   notices) and replays, from the runs table, the finishes of the outage it has not delivered yet
 *   (so `wait()` does not hang on a lost NOTIFY); aborts it missed reach it through the storage's
 *   lease renewal.
 * - **Registry**: the `nodes` table (id, version, accept rules, startedOn, heartbeat). Liveness uses
 *   the database clock, so node clocks may disagree.
 *
 * Faults are reported through `host.error` and never thrown at the host; `stop()` leaves no timer,
 * client or socket behind.
 */
export class PostgresDistribution implements Distribution {
  readonly capabilities: DistributionCapabilities = { multiNode: true };

  private readonly connectionString: string;
  private readonly explicitSchema: string | undefined;
  private readonly heartbeatMs: number;
  private readonly pollMs: number;
  private readonly queryTimeoutMs: number;
  private readonly applicationName: string;

  private schema = 'tasklane';
  private s = '"tasklane"';
  private channels: Channels = channelsFor('tasklane');

  private host: DistributionHost | undefined;
  private readonly pool: DistributionPool;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeats = 0;
  private readonly due = new DueTimer(() => this.host?.wake(), { maxSize: MAX_DUE_TIMES, unref: true, now: () => (this.host ? this.host.now() : Date.now()) });
  private unsubscribeStorage: (() => void) | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  /** how this node's NOTIFY payloads begin */
  private ownPrefix = '\u0000';

  /** what the parts share (see DistributionContext) */
  private readonly ctx: DistributionContext;
  private readonly link: ListenLink;
  private readonly outbox: Outbox;
  private readonly registry: NodeRegistry;
  private readonly relay: EventRelay;
  private readonly replay: FinishReplay;

  constructor(options: PostgresDistributionOptions) {
    if (!options || typeof options.connectionString !== 'string' || options.connectionString.length === 0) {
      throw new InvalidArgumentError('postgresDistribution: `connectionString` is required.');
    }
    this.connectionString = options.connectionString;
    if (options.schema !== undefined) quoteSchema(options.schema);
    this.explicitSchema = options.schema;
    this.heartbeatMs = positive(options.heartbeatMs, 2000, 'heartbeatMs');
    const nodeTtlMs = positive(options.nodeTtlMs, this.heartbeatMs * 3, 'nodeTtlMs');
    this.pollMs = positive(options.pollMs, 2000, 'pollMs');
    const listenerTimeoutMs = positive(options.listenerTimeoutMs, this.heartbeatMs, 'listenerTimeoutMs');
    this.queryTimeoutMs = Math.min(Math.max(2 * this.heartbeatMs, 5000), MAX_TIMER_MS);
    this.applicationName = options.applicationName ?? 'tasklane';
    this.pool = new DistributionPool(this.queryTimeoutMs);
    pgDriver('postgresDistribution()'); // an optional peer dependency: missing, it is said now

    // the parts read this distribution's changing state through these getters
    const state = { host: () => this.host, running: () => this.running, connected: () => this.pool.open, channels: () => this.channels, s: () => this.s };
    this.ctx = {
      get host() {
        return state.host();
      },
      get running() {
        return state.running();
      },
      get connected() {
        return state.connected();
      },
      get channels() {
        return state.channels();
      },
      get s() {
        return state.s();
      },
      q: (text, values) => this.pool.q(text, values),
      report: (what, err) => this.report(what, err),
      deliver: (fn) => this.deliver(fn),
      scheduleFlush: () => this.outbox.scheduleFlush(),
    };
    this.relay = new EventRelay(this.ctx, nodeTtlMs);
    this.outbox = new Outbox(this.ctx, (node, header, batches) => this.relay.takeBatches(node, header, batches));
    this.replay = new FinishReplay(this.ctx);
    this.registry = new NodeRegistry(this.ctx, {
      connectionString: this.connectionString,
      explicitSchema: this.explicitSchema,
      nodeTtlMs,
      queryTimeoutMs: this.queryTimeoutMs,
      unstartedAppName: () => this.appName('distribution', 'unstarted'),
    });
    this.link = new ListenLink({
      connectionString: this.connectionString,
      listenerTimeoutMs,
      applicationName: () => this.appName('listener', this.host?.node.nodeId ?? ''),
      channels: () => this.channels,
      isRunning: () => this.running,
      isStopped: () => !this.host || this.stopping !== undefined,
      onNotification: (msg) => onNotification({ ctx: this.ctx, ownPrefix: () => this.ownPrefix, due: this.due, relay: this.relay, replay: this.replay }, msg),
      onReconnected: () => {
        this.host?.wake(); // notices may have been missed while the link was down
        void this.replay.afterReconnect(this.link, this.schema);
      },
      report: (what, err) => this.report(what, err),
    });
  }

  /** The schema in use (known once started). */
  get schemaName(): string {
    return this.schema;
  }

  /** NOTIFY channel names in use (known once started). */
  get channelNames(): Readonly<Channels> {
    return this.channels;
  }

  /** Diagnostics: connections the LISTEN link has made since construction, and whether it is up. */
  get listenerStats(): { connects: number; connected: boolean } {
    return { connects: this.link.connects, connected: this.link.connected };
  }

  /** The backend pid of the LISTEN link, when connected (for diagnostics and fault tests). */
  get listenerPid(): number | undefined {
    return this.link.pid;
  }

  start(host: DistributionHost): Promise<void> {
    if (this.running) return Promise.resolve();
    if (this.starting) return this.starting;
    this.starting = (async () => {
      if (this.stopping) await this.stopping;
      await this.doStart(host);
    })().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async doStart(host: DistributionHost): Promise<void> {
    if (!host.storage.capabilities.shared) {
      throw new InvalidArgumentError(
        'postgresDistribution needs a storage shared by every node (postgresStorage on the same database); the configured storage is not shared.',
      );
    }
    const storage = host.storage instanceof PostgresStorage ? host.storage : undefined;
    this.schema = this.explicitSchema ?? storage?.schema ?? 'tasklane';
    this.s = quoteSchema(this.schema);
    this.channels = channelsFor(this.schema);
    this.host = host;
    this.ownPrefix = `{"n":${JSON.stringify(host.node.nodeId)},`;
    this.stopping = undefined;
    this.link.reset();
    const pool = this.pool.start({
      connectionString: this.connectionString,
      applicationName: this.appName('distribution', host.node.nodeId),
      onError: (err) => this.report('connection fault', err),
    });
    try {
      const client = await connect(pool);
      try {
        await withTimeout(migrate(client, this.schema), 60_000, () => destroySocket(client));
        client.release();
      } catch (err) {
        client.release(true);
        throw err;
      }
      await this.registry.register();
      await this.link.connect();
    } catch (err) {
      await this.teardown();
      this.host = undefined;
      if (TasklaneError.is(err)) throw err;
      const original = err instanceof Error && 'original' in err ? (err as { original: unknown }).original : err;
      throw storageFailure('postgresDistribution: starting', original);
    }
    if (storage) this.unsubscribeStorage = storage.onError((err) => this.host?.error(err));
    this.running = true;
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.min(this.heartbeatMs, MAX_TIMER_MS));
    this.heartbeatTimer.unref();
    this.pollTimer = setInterval(() => this.host?.wake(), Math.min(this.pollMs, MAX_TIMER_MS));
    this.pollTimer.unref();
    host.wake();
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    if (!this.running && !this.starting) return Promise.resolve();
    this.stopping = (async () => {
      if (this.starting) await this.starting.catch(() => undefined);
      this.running = false;
      try {
        await this.outbox.flushNow();
        await this.outbox.settled();
        await this.registry.unregister();
      } finally {
        // whatever the last notices and the goodbye met (a terminated backend), nothing stays open
        await this.teardown();
        this.host = undefined;
      }
    })();
    return this.stopping;
  }

  /** Clears every timer and closes every connection. */
  private async teardown(): Promise<void> {
    this.running = false;
    for (const t of [this.heartbeatTimer, this.pollTimer]) if (t) clearInterval(t);
    this.heartbeatTimer = undefined;
    this.pollTimer = undefined;
    this.outbox.clear();
    this.due.clear();
    this.unsubscribeStorage?.();
    this.unsubscribeStorage = undefined;
    this.relay.reset();
    await this.link.close();
    await this.pool.close();
    this.registry.clear();
    this.replay.clear();
  }

  // dispatch

  runnable(notices: RunnableNotice[]): void {
    const host = this.host;
    if (!host || !this.running || notices.length === 0) return;
    const now = host.now();
    let wakeNow = false;
    for (const n of notices) {
      const due = Number.isFinite(n.dueAt) ? n.dueAt : now;
      if (due <= now) wakeNow = true;
      else this.due.add(due);
      if (n.definitionId === INLINE_DEFINITION) continue;
      this.outbox.addWake(n.definitionId, due <= now ? 0 : due);
    }
    if (wakeNow) host.wake();
    if (this.outbox.hasWake) void this.outbox.scheduleFlush();
  }

  /**
   * The wake-up of runs stored through a host's transaction, as one `pg_notify` on that
   * transaction: PostgreSQL delivers it at commit (to every node, this one included: see
   * wakePayload) and drops it at rollback. False, without a statement, when this distribution is
   * not started or the transaction is not a pg client (the engine then calls runnable() once it
   * sees the runs committed). A failed NOTIFY is thrown (the host's transaction is then aborted).
   */
  runnableInTransaction(tx: HostTransaction, notices: RunnableNotice[]): MaybePromise<boolean> {
    const host = this.host;
    const handle = tx as Partial<Record<'query' | 'prepare', unknown>>;
    if (!host || !this.running || typeof handle.query !== 'function' || typeof handle.prepare === 'function') return false;
    return wakeInTransaction(tx as PostgresTransaction, this.channels.wake, host.node.nodeId, host.now(), notices);
  }

  claim(request: ClaimRequest): Promise<RunRecord[]> {
    if (!this.host) return Promise.resolve([]);
    return this.host.storage.claimRuns(request);
  }

  // signals

  publishAbort(runId: string): Promise<void> {
    const host = this.host;
    if (!host) return Promise.resolve();
    this.deliver(() => host.abortRequested(runId));
    if (!this.running) return Promise.resolve();
    this.outbox.addAbort(runId);
    return this.outbox.scheduleFlush();
  }

  publishFinished(notices: FinishedNotice[]): Promise<void> {
    const host = this.host;
    if (!host || notices.length === 0) return Promise.resolve();
    for (const n of notices) {
      this.replay.remember(n.id);
      this.deliver(() => host.finished(n));
    }
    if (!this.running) return Promise.resolve();
    for (const n of notices) this.outbox.addFinished(n);
    return this.outbox.scheduleFlush();
  }

  /**
   * One NOTIFY on the restart channel, sent at once (restarts are rare: nothing to batch). Before
   * start (a process that restarts a definition without running its engine) it goes through a
   * short-lived connection, on the channel of the configured schema (or `tasklane`).
   */
  async publishRestart(definitionId: string): Promise<void> {
    const node = this.host?.node.nodeId ?? '';
    const payload = JSON.stringify({ n: node, d: definitionId });
    if (this.running && this.pool.open) {
      try {
        await this.pool.q('select pg_notify($1, $2)', [this.channels.restart, payload]);
      } catch (err) {
        this.report('the restart NOTIFY failed (other nodes keep their stats of the definition)', err);
      }
      return;
    }
    const channel = channelsFor(this.explicitSchema ?? 'tasklane').restart;
    await withShortLivedClient(
      { connectionString: this.connectionString, applicationName: this.appName('distribution', 'unstarted'), timeoutMs: this.queryTimeoutMs },
      (client) => client.query('select pg_notify($1, $2)', [channel, payload]),
    ).catch((err: unknown) => this.report('the restart NOTIFY failed (other nodes keep their stats of the definition)', err));
  }

  // live run events (see EventRelay)

  setEventInterest(interest: EventInterest | null): void {
    this.relay.setEventInterest(interest);
  }

  publishRunEvents(notices: RunEventNotice[]): void {
    this.relay.publishRunEvents(notices);
  }

  // node registry

  liveNodes(): Promise<NodeDescriptor[]> {
    return this.registry.liveNodes();
  }

  private heartbeat(): void {
    if (!this.running) return;
    this.heartbeats++;
    this.registry.register().catch((err: unknown) => this.report('heartbeat failed', err));
    if (this.heartbeats % 30 === 0) this.registry.forgetSilentNodes();
    this.link.heartbeat();
    this.relay.heartbeat();
  }

  // shared by the parts

  private deliver(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report('a host callback threw', err);
    }
  }

  private appName(kind: string, nodeId: string): string {
    return `${this.applicationName}-${kind}:${nodeId}`.slice(0, 63);
  }

  private report(what: string, err: unknown): void {
    const original = err instanceof Error && 'original' in err ? (err as { original: unknown }).original : err;
    const error = original instanceof StorageError ? original : storageFailure(`postgresDistribution: ${what}`, original);
    try {
      this.host?.error(error);
    } catch {
      // the host's error sink failed: nothing more to do
    }
  }
}

export type { PostgresDistributionOptions };

export function postgresDistribution(options: PostgresDistributionOptions): PostgresDistribution {
  return new PostgresDistribution(options);
}
