import { createHash } from 'node:crypto';
import type { Client, Notification, Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { MAX_TIMER_MS, optionalDuration } from '../../util/duration';
import { InvalidArgumentError, StorageError, TasklaneError } from '../../api/errors';
import type { AcceptRules, RunStatus, TaskRun } from '../../api/types';
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
import { accepts } from '../../core/definitions/accept-rules';
import { DueTimer } from '../shared/due-timer';
import { pgDriver } from '../shared/drivers';
import { migrate, quoteSchema } from './postgres-migrations';
import { PostgresStorage } from './postgres-storage';
import { RecentSet } from './bounded';
import { connect, createManagedPool, destroySocket, endPool, isConnectionError, pgTypeParsers, storageFailure, withTimeout } from './pg-support';
import { wakePayload, type WakeEntries } from './wake-payload';

export interface PostgresDistributionOptions {
  connectionString: string;
  /**
   * Schema of the `nodes` table and namespace of the NOTIFY channels. Default: the schema of the
   * `PostgresStorage` the engine uses, else `tasklane`.
   */
  schema?: string;
  /** ms between heartbeats of this node, and between liveness checks of the LISTEN link (default 2000) */
  heartbeatMs?: number;
  /** a node whose last heartbeat is older than this is not live (default 3 x heartbeatMs) */
  nodeTtlMs?: number;
  /** safety poll: ms between wake-ups that do not wait for a notification (default 2000) */
  pollMs?: number;
  /** ms the LISTEN link may take to answer its `SELECT 1` before it is replaced (default heartbeatMs) */
  listenerTimeoutMs?: number;
  /**
   * prefix of the connections' `application_name` (default `tasklane`): the LISTEN link is
   * `<prefix>-listener:<nodeId>`, the others `<prefix>-distribution:<nodeId>`
   */
  applicationName?: string;
}

/** a finish notice: id, definition, status, and the ended run when it is small */
type FinishItem = [string, string, RunStatus] | [string, string, RunStatus, TaskRun];

/** the largest finish notice that carries its run (JSON characters); larger ones are read back */
const MAX_RUN_IN_NOTICE = 2000;

/** NOTIFY payloads must stay below 8000 bytes. */
const MAX_PAYLOAD = 7000;
/** distinct future due times remembered for the local timer */
const MAX_DUE_TIMES = 100_000;
/** distinct future due times announced per flush (the safety poll covers the rest) */
const MAX_ANNOUNCED_DUE_TIMES = 20_000;

/** finishes remembered as delivered (so a replay after a lost LISTEN link skips them): the last 50,000 to 100,000 */
const MAX_REMEMBERED_FINISHES = 100_000;
/** finishes replayed at most after a lost LISTEN link */
const MAX_REPLAYED_FINISHES = 100_000;
/** replay from this long before the link was noticed lost (clocks, in-flight notices) */
const REPLAY_MARGIN_MS = 5_000;

/** NOTIFYs sent by one statement */
const MAX_NOTIFIES_PER_STATEMENT = 50;
const notifySqlCache = new Map<number, string>();

/** `select pg_notify($1, $2), pg_notify($3, $4), ...` for n notices (fixed text per n) */
function notifySql(n: number): string {
  let text = notifySqlCache.get(n);
  if (text === undefined) {
    text = 'select ' + Array.from({ length: n }, (_, i) => `pg_notify($${2 * i + 1}, $${2 * i + 2})`).join(', ');
    notifySqlCache.set(n, text);
  }
  return text;
}

/** Definition ids of this pseudo-definition never run away from the node that started them. */
const INLINE_DEFINITION = 'inline';


interface Channels {
  wake: string;
  abort: string;
  finish: string;
  restart: string;
  /** live run events (see publishRunEvents) */
  events: string;
  /** which nodes want live run events (see setEventInterest) */
  interest: string;
}

function channelsFor(schema: string): Channels {
  const named = (prefix: string): Channels => ({
    wake: `${prefix}.wake`,
    abort: `${prefix}.abort`,
    finish: `${prefix}.finish`,
    restart: `${prefix}.restart`,
    events: `${prefix}.events`,
    interest: `${prefix}.interest`,
  });
  // PostgreSQL truncates channel names to 63 bytes: a long schema gets hashed names instead
  const readable = named(schema);
  if (readable.interest.length <= 63) return readable;
  const hashed = named(`tl_${createHash('sha1').update(schema).digest('hex').slice(0, 16)}`);
  // the channels that existed before live events keep the names they had (nodes of both versions
  // hear each other during an upgrade); the two newer ones take the hashed name when they must
  return readable.restart.length <= 63 ? { ...readable, events: hashed.events, interest: hashed.interest } : hashed;
}

interface OutgoingBatch {
  channel: string;
  payload: string;
}

/**
 * A cluster of nodes sharing one PostgreSQL database.
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
  private readonly nodeTtlMs: number;
  private readonly pollMs: number;
  private readonly listenerTimeoutMs: number;
  private readonly queryTimeoutMs: number;
  private readonly applicationName: string;

  private schema = 'tasklane';
  private s = '"tasklane"';
  private channels: Channels = channelsFor('tasklane');

  private host: DistributionHost | undefined;
  private pool: Pool | undefined;
  private listener: Client | undefined;
  private listenerChecking = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = 100;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private heartbeats = 0;
  private readonly due = new DueTimer(() => this.host?.wake(), { maxSize: MAX_DUE_TIMES, unref: true, now: () => (this.host ? this.host.now() : Date.now()) });
  private unsubscribeStorage: (() => void) | undefined;
  private running = false;
  private stopping: Promise<void> | undefined;
  private starting: Promise<void> | undefined;
  /** counts listener connections made (tests and diagnostics) */
  private listenerConnects = 0;

  // outgoing notices, flushed once per tick
  private outWake = new Map<string, Set<number>>();
  private outAbort: string[] = [];
  private outFinish: FinishedNotice[] = [];
  private flushScheduled: NodeJS.Immediate | undefined;
  private flushWaiters: Array<() => void> = [];
  private readonly inflightFlushes = new Set<Promise<void>>();
  private readonly checkedOut = new Set<PoolClient>();

  private lastNodes: NodeDescriptor[] | undefined;
  /** how this node's NOTIFY payloads begin */
  private ownPrefix = '\u0000';
  /** when the LISTEN link was lost (epoch ms), until the finishes of the outage were replayed */
  private linkLostAt: number | undefined;
  /** ids of runs whose finish was delivered here recently (bounded), so a replay skips them */
  private readonly delivered = new RecentSet(MAX_REMEMBERED_FINISHES);
  private nodesInflight: Promise<NodeDescriptor[]> | undefined;

  constructor(options: PostgresDistributionOptions) {
    if (!options || typeof options.connectionString !== 'string' || options.connectionString.length === 0) {
      throw new InvalidArgumentError('postgresDistribution: `connectionString` is required.');
    }
    this.connectionString = options.connectionString;
    if (options.schema !== undefined) quoteSchema(options.schema);
    this.explicitSchema = options.schema;
    this.heartbeatMs = positive(options.heartbeatMs, 2000, 'heartbeatMs');
    this.nodeTtlMs = positive(options.nodeTtlMs, this.heartbeatMs * 3, 'nodeTtlMs');
    this.pollMs = positive(options.pollMs, 2000, 'pollMs');
    this.listenerTimeoutMs = positive(options.listenerTimeoutMs, this.heartbeatMs, 'listenerTimeoutMs');
    this.queryTimeoutMs = Math.min(Math.max(2 * this.heartbeatMs, 5000), MAX_TIMER_MS);
    this.applicationName = options.applicationName ?? 'tasklane';
    pgDriver('postgresDistribution()'); // an optional peer dependency: missing, it is said now
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
    return { connects: this.listenerConnects, connected: this.listener !== undefined };
  }

  /** The backend pid of the LISTEN link, when connected (for diagnostics and fault tests). */
  get listenerPid(): number | undefined {
    return (this.listener as unknown as { processID?: number } | undefined)?.processID;
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
    this.reconnectDelay = 100;
    this.pool = createManagedPool({
      connectionString: this.connectionString,
      max: 3,
      applicationName: this.appName('distribution', host.node.nodeId),
      connectionTimeoutMillis: this.queryTimeoutMs,
      onError: (err) => this.report('connection fault', err),
    });
    try {
      const client = await connect(this.pool);
      try {
        await withTimeout(migrate(client, this.schema), 60_000, () => destroySocket(client));
        client.release();
      } catch (err) {
        client.release(true);
        throw err;
      }
      await this.register();
      await this.connectListener();
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
      await this.flushNow();
      await Promise.allSettled([...this.inflightFlushes]);
      await this.unregister();
      await this.teardown();
      this.host = undefined;
    })();
    return this.stopping;
  }

  /** Clears every timer and closes every connection. */
  private async teardown(): Promise<void> {
    this.running = false;
    for (const t of [this.heartbeatTimer, this.pollTimer]) if (t) clearInterval(t);
    this.heartbeatTimer = undefined;
    this.pollTimer = undefined;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    if (this.flushScheduled) clearImmediate(this.flushScheduled);
    this.flushScheduled = undefined;
    this.due.clear();
    this.unsubscribeStorage?.();
    this.unsubscribeStorage = undefined;
    this.outWake = new Map();
    this.outAbort = [];
    this.outFinish = [];
    this.resetEventRelay();
    for (const w of this.flushWaiters.splice(0)) w();
    this.nextFlush = undefined;
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await closeClient(listener);
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await endPool(pool);
    for (const client of this.checkedOut) destroySocket(client);
    this.checkedOut.clear();
    this.lastNodes = undefined;
    this.linkLostAt = undefined;
    this.delivered.clear();
  }

  // -----------------------------------------------------------------------------------------------
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
      let times = this.outWake.get(n.definitionId);
      if (!times) {
        times = new Set();
        this.outWake.set(n.definitionId, times);
      }
      times.add(due <= now ? 0 : due);
    }
    if (wakeNow) host.wake();
    if (this.outWake.size > 0) this.scheduleFlush();
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
    const now = host.now();
    const entries: WakeEntries = Object.create(null) as WakeEntries;
    let count = 0;
    for (const n of notices) {
      if (n.definitionId === INLINE_DEFINITION) continue;
      const due = Number.isFinite(n.dueAt) && n.dueAt > now ? n.dueAt : 0;
      (entries[n.definitionId] ??= []).push(due);
      count++;
    }
    if (count === 0) return false;
    const payload = wakePayload(entries, { transactionOf: host.node.nodeId });
    if (payload.length > MAX_PAYLOAD) return false;
    return (tx as PostgresTransaction).query('select pg_notify($1, $2)', [this.channels.wake, payload]).then(
      () => true,
      (err: unknown) => {
        throw storageFailure("postgresDistribution: the wake-up NOTIFY in the host's transaction", err);
      },
    );
  }

  claim(request: ClaimRequest): Promise<RunRecord[]> {
    if (!this.host) return Promise.resolve([]);
    return this.host.storage.claimRuns(request);
  }

  // -----------------------------------------------------------------------------------------------
  // signals

  publishAbort(runId: string): Promise<void> {
    const host = this.host;
    if (!host) return Promise.resolve();
    this.deliver(() => host.abortRequested(runId));
    if (!this.running) return Promise.resolve();
    this.outAbort.push(runId);
    return this.scheduleFlush();
  }

  publishFinished(notices: FinishedNotice[]): Promise<void> {
    const host = this.host;
    if (!host || notices.length === 0) return Promise.resolve();
    for (const n of notices) {
      this.remember(n.id);
      this.deliver(() => host.finished(n));
    }
    if (!this.running) return Promise.resolve();
    for (const n of notices) this.outFinish.push(n);
    return this.scheduleFlush();
  }

  /**
   * One NOTIFY on the restart channel, sent at once (restarts are rare: nothing to batch). Before
   * start (a process that restarts a definition without running its engine) it goes through a
   * short-lived connection, on the channel of the configured schema (or `tasklane`).
   */
  async publishRestart(definitionId: string): Promise<void> {
    const node = this.host?.node.nodeId ?? '';
    const payload = JSON.stringify({ n: node, d: definitionId });
    if (this.running && this.pool) {
      try {
        await this.q('select pg_notify($1, $2)', [this.channels.restart, payload]);
      } catch (err) {
        this.report('the restart NOTIFY failed (other nodes keep their stats of the definition)', err);
      }
      return;
    }
    const channel = channelsFor(this.explicitSchema ?? 'tasklane').restart;
    await this.withShortLivedClient((client) => client.query('select pg_notify($1, $2)', [channel, payload])).catch((err: unknown) =>
      this.report('the restart NOTIFY failed (other nodes keep their stats of the definition)', err),
    );
  }

  private deliver(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.report('a host callback threw', err);
    }
  }

  /** one promise for everything queued until the next flush (not one per notice) */
  private nextFlush: Promise<void> | undefined;

  private scheduleFlush(): Promise<void> {
    this.nextFlush ??= new Promise<void>((resolve) => this.flushWaiters.push(resolve));
    const done = this.nextFlush;
    if (!this.flushScheduled) {
      this.flushScheduled = setImmediate(() => {
        this.flushScheduled = undefined;
        void this.flushNow();
      });
    }
    return done;
  }

  /** Sends everything queued as NOTIFYs (one statement); resolves when it was sent or failed. */
  private flushNow(): Promise<void> {
    if (this.flushScheduled) {
      clearImmediate(this.flushScheduled);
      this.flushScheduled = undefined;
    }
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    this.nextFlush = undefined;
    const batches = this.takeBatches();
    if (batches.length === 0 || !this.pool) {
      for (const w of waiters) w();
      return Promise.resolve();
    }
    const flight: Promise<void> = this.sendNotifies(batches).finally(() => {
      this.inflightFlushes.delete(flight);
      for (const w of waiters) w();
    });
    this.inflightFlushes.add(flight);
    return flight;
  }

  private takeBatches(): OutgoingBatch[] {
    const node = this.host?.node.nodeId ?? '';
    const batches: OutgoingBatch[] = [];
    const header = JSON.stringify(node).length + 16;

    if (this.outWake.size > 0) {
      const wake = this.outWake;
      this.outWake = new Map();
      let entries: Record<string, number[]> = {};
      let size = header;
      let count = 0;
      let announced = 0;
      const push = () => {
        if (count > 0) batches.push({ channel: this.channels.wake, payload: wakePayload(entries, { node }) });
        entries = {};
        size = header;
        count = 0;
      };
      for (const [def, times] of wake) {
        const sorted = [...times].sort((x, y) => x - y);
        for (const t of sorted) {
          if (t !== 0 && announced >= MAX_ANNOUNCED_DUE_TIMES) break;
          const cost = (t: number) => (entries[def] ? 0 : JSON.stringify(def).length + 4) + String(t).length + 1;
          if (count > 0 && size + cost(t) > MAX_PAYLOAD) push();
          size += cost(t);
          (entries[def] ??= []).push(t);
          count++;
          if (t !== 0) announced++;
        }
      }
      push();
    }

    if (this.outAbort.length > 0) {
      const ids = [...new Set(this.outAbort)];
      this.outAbort = [];
      let chunk: string[] = [];
      let size = header;
      for (const id of ids) {
        const add = JSON.stringify(id).length + 1;
        if (chunk.length > 0 && size + add > MAX_PAYLOAD) {
          batches.push({ channel: this.channels.abort, payload: JSON.stringify({ n: node, r: chunk }) });
          chunk = [];
          size = header;
        }
        chunk.push(id);
        size += add;
      }
      if (chunk.length > 0) batches.push({ channel: this.channels.abort, payload: JSON.stringify({ n: node, r: chunk }) });
    }

    if (this.outFinish.length > 0) {
      const finished = this.outFinish;
      this.outFinish = [];
      let chunk: FinishItem[] = [];
      let size = header;
      for (const f of finished) {
        // a small run travels along: the waiting node resolves it without reading it back
        let item: FinishItem = f.run === undefined ? [f.id, f.definitionId, f.status] : [f.id, f.definitionId, f.status, f.run];
        let text = JSON.stringify(item);
        if (text.length > MAX_RUN_IN_NOTICE && item.length === 4) {
          item = [f.id, f.definitionId, f.status];
          text = JSON.stringify(item);
        }
        const add = text.length + 1;
        if (chunk.length > 0 && size + add > MAX_PAYLOAD) {
          batches.push({ channel: this.channels.finish, payload: JSON.stringify({ n: node, f: chunk }) });
          chunk = [];
          size = header;
        }
        chunk.push(item);
        size += add;
      }
      if (chunk.length > 0) batches.push({ channel: this.channels.finish, payload: JSON.stringify({ n: node, f: chunk }) });
    }
    this.takeEventBatches(node, header, batches);
    return batches;
  }

  private async sendNotifies(batches: OutgoingBatch[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        // one pg_notify($n, $n+1) per batch: no array to escape the payloads into
        for (let i = 0; i < batches.length; i += MAX_NOTIFIES_PER_STATEMENT) {
          const part = batches.slice(i, i + MAX_NOTIFIES_PER_STATEMENT);
          await this.q(notifySql(part.length), part.flatMap((b) => [b.channel, b.payload]));
        }
        return;
      } catch (err) {
        const original = err instanceof Error && 'original' in err ? (err as { original: unknown }).original : err;
        if (attempt === 0 && isConnectionError(original) && this.pool) continue; // duplicates are tolerated
        this.report('NOTIFY failed (other nodes learn through the safety poll and lease renewal)', original);
        return;
      }
    }
  }

  private appName(kind: string, nodeId: string): string {
    return `${this.applicationName}-${kind}:${nodeId}`.slice(0, 63);
  }

  /** One statement on a pooled connection, bounded in time (a half-open link is dropped). */
  private async q<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    const pool = this.pool;
    if (!pool) throw new StorageError('postgresDistribution is stopped.');
    const client = await connect(pool);
    this.checkedOut.add(client);
    try {
      const result = await withTimeout(client.query<R>(text, values), this.queryTimeoutMs, () => destroySocket(client));
      this.checkedOut.delete(client);
      client.release();
      return result;
    } catch (err) {
      this.checkedOut.delete(client);
      client.release(true);
      destroySocket(client);
      throw err;
    }
  }

  // -----------------------------------------------------------------------------------------------
  // the LISTEN link

  private async connectListener(): Promise<void> {
    const client = new (pgDriver('postgresDistribution()').Client)({
      connectionString: this.connectionString,
      keepAlive: true,
      application_name: this.appName('listener', this.host?.node.nodeId ?? ''),
      connectionTimeoutMillis: Math.min(Math.max(this.listenerTimeoutMs, 5000), MAX_TIMER_MS),
      types: pgTypeParsers,
    });
    client.on('error', (err) => this.listenerFailed(client, err));
    client.on('end', () => this.listenerFailed(client, new Error('the LISTEN connection ended')));
    client.on('notification', (msg) => {
      if (this.listener === client) this.onNotification(msg);
    });
    try {
      await client.connect();
      const { wake, abort, finish, restart, events, interest } = this.channels;
      await client.query(`listen "${wake}"; listen "${abort}"; listen "${finish}"; listen "${restart}"; listen "${events}"; listen "${interest}"`);
    } catch (err) {
      await closeClient(client);
      throw err;
    }
    if (!this.host || this.stopping) {
      await closeClient(client);
      return;
    }
    this.listener = client;
    this.listenerConnects++;
  }

  private listenerFailed(client: Client, err: unknown): void {
    if (this.listener !== client) return;
    this.listener = undefined;
    this.linkLostAt ??= Date.now();
    void closeClient(client);
    this.report('the LISTEN connection was lost; reconnecting', err);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer || this.listener) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.running) return;
      this.connectListener().then(
        () => {
          if (!this.listener) return;
          this.reconnectDelay = 100;
          this.host?.wake(); // notices may have been missed while the link was down
          void this.replayFinished();
        },
        (err: unknown) => {
          this.report('reconnecting the LISTEN connection failed; retrying', err);
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  private async checkListener(): Promise<void> {
    const client = this.listener;
    if (!client || this.listenerChecking) return;
    this.listenerChecking = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('select 1'),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the LISTEN connection did not answer within ${this.listenerTimeoutMs} ms`)),
            Math.min(this.listenerTimeoutMs, MAX_TIMER_MS),
          );
        }),
      ]);
    } catch (err) {
      this.listenerFailed(client, err);
    } finally {
      if (timer) clearTimeout(timer);
      this.listenerChecking = false;
    }
  }

  private remember(id: string): void {
    this.delivered.add(id);
  }

  /**
   * After the LISTEN link came back: delivers the finishes this node may have missed while it was
   * down (runs finished since shortly before the link was lost), so wait() and events elsewhere
   * do not hang on a lost NOTIFY. Runs already delivered here are skipped.
   */
  private async replayFinished(): Promise<void> {
    const lostAt = this.linkLostAt;
    const host = this.host;
    if (lostAt === undefined || !host) return;
    if (!(host.storage instanceof PostgresStorage) || host.storage.schema !== this.schema) {
      this.linkLostAt = undefined;
      return;
    }
    try {
      const res = await this.q<{ id: string; definition_id: string; status: RunStatus }>(
        `select id, definition_id, status from ${this.s}.runs
         where finished_at >= $1 and status in ('success', 'failed', 'aborted')
         order by finished_at limit $2`,
        [lostAt - REPLAY_MARGIN_MS, MAX_REPLAYED_FINISHES],
      );
      if (this.listener) this.linkLostAt = undefined;
      for (const r of res.rows) {
        if (this.delivered.has(r.id)) continue;
        this.remember(r.id);
        const notice: FinishedNotice = { id: r.id, definitionId: r.definition_id, status: r.status };
        this.deliver(() => host.finished(notice));
      }
    } catch (err) {
      this.report('replaying the finishes missed while the LISTEN link was down failed', err);
    }
  }

  private onNotification(msg: Notification): void {
    const host = this.host;
    if (!host || !msg.payload) return;
    // this node's own notices (delivered locally when published) are skipped unparsed: every
    // payload starts with the sender's id (see takeBatches)
    if (msg.payload.startsWith(this.ownPrefix)) return;
    if (msg.channel === this.channels.events || msg.channel === this.channels.interest) return this.onEventNotification(msg.channel, msg.payload);
    // nothing here waits for a run or listens to run ends: the finishes are not decoded (on a
    // cluster every node gets every node's finishes); the wake-up stays, as a finish can free a
    // concurrency slot or an `after`
    if (msg.channel === this.channels.finish && host.wantsFinished?.() === false) {
      this.deliver(() => host.wake());
      return;
    }
    let data: { n?: unknown; w?: unknown; r?: unknown; f?: unknown };
    try {
      data = JSON.parse(msg.payload) as typeof data;
    } catch (err) {
      this.report(`unreadable notification on ${msg.channel}`, err);
      return;
    }
    if (data.n === host.node.nodeId) return; // delivered locally when published
    if (msg.channel === this.channels.wake && data.w && typeof data.w === 'object') {
      const now = host.now();
      let wakeNow = false;
      for (const [def, times] of Object.entries(data.w as Record<string, unknown>)) {
        if (!Array.isArray(times) || !accepts(host.node.accept ?? {}, def)) continue;
        for (const t of times) {
          if (typeof t !== 'number') continue;
          if (t <= now) wakeNow = true;
          else this.due.add(t);
        }
      }
      if (wakeNow) this.deliver(() => host.wake());
    } else if (msg.channel === this.channels.restart && typeof (data as { d?: unknown }).d === 'string') {
      const definitionId = (data as { d: string }).d;
      this.deliver(() => host.definitionRestarted(definitionId));
    } else if (msg.channel === this.channels.abort && Array.isArray(data.r)) {
      for (const id of data.r) if (typeof id === 'string') this.deliver(() => host.abortRequested(id));
    } else if (msg.channel === this.channels.finish && Array.isArray(data.f)) {
      for (const item of data.f) {
        if (!Array.isArray(item) || typeof item[0] !== 'string') continue;
        const notice: FinishedNotice = { id: item[0], definitionId: String(item[1]), status: item[2] as RunStatus };
        const run: unknown = item[3];
        if (typeof run === 'object' && run !== null && (run as TaskRun).id === notice.id && (run as TaskRun).status === notice.status) notice.run = run as TaskRun;
        this.remember(notice.id);
        this.deliver(() => host.finished(notice));
      }
    }
  }

  // -----------------------------------------------------------------------------------------------
  // live run events (see Distribution.setEventInterest): channels `<schema>.interest` and `.events`

  /** what this node's live views want (resent at every heartbeat while set) */
  private ownInterest: EventInterest | null = null;
  /** an explicit "no more" is owed to the other nodes */
  private interestWithdrawn = false;
  /** the interests other nodes announced, until they lapse */
  private readonly remoteInterests = new Map<string, { interest: EventInterest; until: number }>();
  private lastMergedInterest = 'null';
  private outEvents: RunEventNotice[] = [];

  setEventInterest(interest: EventInterest | null): void {
    const had = this.ownInterest !== null;
    this.ownInterest = interest;
    if (interest === null && !had) return;
    this.interestWithdrawn = interest === null;
    if (this.running) void this.scheduleFlush();
  }

  publishRunEvents(notices: RunEventNotice[]): void {
    if (!this.running || notices.length === 0) return;
    for (const n of notices) this.outEvents.push(n);
    void this.scheduleFlush();
  }

  /** at every heartbeat: this node's interest again, and the others' that lapsed are dropped */
  private eventInterestHeartbeat(): void {
    if (this.ownInterest !== null) void this.scheduleFlush();
    if (this.remoteInterests.size === 0) return;
    const now = Date.now();
    for (const [node, entry] of this.remoteInterests) if (entry.until < now) this.remoteInterests.delete(node);
    this.interestChanged();
  }

  private onEventNotification(channel: string, payload: string): void {
    const host = this.host;
    if (!host) return;
    let data: { n?: unknown; i?: unknown; e?: unknown };
    try {
      data = JSON.parse(payload) as typeof data;
    } catch (err) {
      this.report(`unreadable notification on ${channel}`, err);
      return;
    }
    if (typeof data.n !== 'string' || data.n === host.node.nodeId) return;
    if (channel === this.channels.interest) {
      const interest = readInterest(data.i);
      if (interest) this.remoteInterests.set(data.n, { interest, until: Date.now() + this.nodeTtlMs });
      else this.remoteInterests.delete(data.n);
      this.interestChanged();
    } else if (Array.isArray(data.e) && this.ownInterest !== null) {
      const notices: RunEventNotice[] = [];
      for (const item of data.e) {
        const n = readEventItem(item);
        if (n) notices.push(n);
      }
      if (notices.length > 0) this.deliver(() => host.runEvents?.(notices));
    }
  }

  /** tells the host the merged interest of the other nodes when it changed */
  private interestChanged(): void {
    let merged: EventInterest | null = null;
    for (const { interest } of this.remoteInterests.values()) {
      merged ??= { all: false, definitions: [], runs: [] };
      merged.all ||= interest.all;
      merged.definitions.push(...interest.definitions);
      merged.runs.push(...interest.runs);
    }
    if (merged) merged = { all: merged.all, definitions: [...new Set(merged.definitions)].sort(), runs: [...new Set(merged.runs)].sort() };
    const key = JSON.stringify(merged);
    if (key === this.lastMergedInterest) return;
    this.lastMergedInterest = key;
    const host = this.host;
    if (host) this.deliver(() => host.eventInterest?.(merged));
  }

  /** the interest notice and the queued events, as NOTIFY batches (runs too large travel without the run) */
  private takeEventBatches(node: string, header: number, batches: OutgoingBatch[]): void {
    if (this.ownInterest !== null || this.interestWithdrawn) {
      this.interestWithdrawn = false;
      // a stopping node withdraws its interest at once (its interest is kept for its next start)
      const payload = JSON.stringify({ n: node, i: this.running ? this.ownInterest : null });
      // an interest too long for one notice is sent as "all" (the relay bounds its lists anyway)
      batches.push({ channel: this.channels.interest, payload: payload.length <= MAX_PAYLOAD ? payload : JSON.stringify({ n: node, i: { all: true, definitions: [], runs: [] } }) });
    }
    if (this.outEvents.length === 0) return;
    const events = this.outEvents;
    this.outEvents = [];
    let chunk: string[] = [];
    let size = header;
    for (const e of events) {
      let text = JSON.stringify([e.type, e.runId, e.definitionId, e.run ?? null, e.progress ?? null, e.error ?? null]);
      if (text.length > MAX_RUN_IN_NOTICE) text = JSON.stringify([e.type, e.runId, e.definitionId, null, e.progress ?? null, e.error ? { message: String(e.error.message).slice(0, 500), code: e.error.code } : null]);
      if (text.length > MAX_RUN_IN_NOTICE) continue; // ids and progress this large are not worth relaying
      if (chunk.length > 0 && size + text.length + 1 > MAX_PAYLOAD) {
        batches.push({ channel: this.channels.events, payload: `{"n":${JSON.stringify(node)},"e":[${chunk.join(',')}]}` });
        chunk = [];
        size = header;
      }
      chunk.push(text);
      size += text.length + 1;
    }
    if (chunk.length > 0) batches.push({ channel: this.channels.events, payload: `{"n":${JSON.stringify(node)},"e":[${chunk.join(',')}]}` });
  }

  private resetEventRelay(): void {
    this.outEvents = [];
    this.remoteInterests.clear();
    this.lastMergedInterest = 'null';
    // ownInterest stays: the engine announces it again when it starts
    this.interestWithdrawn = false;
  }

  // -----------------------------------------------------------------------------------------------
  // node registry

  /**
   * Registers (or refreshes) this node, and reads the server's clock on the way: its time at the
   * statement, taken at the midpoint of the round trip on the monotonic clock (the host keeps the
   * readings: see DistributionHost.clockSample).
   */
  private async register(): Promise<void> {
    const host = this.host;
    if (!host || !this.pool) return;
    const node = host.node;
    const sent = performance.now();
    const res = await this.q<{ server_ms: number }>(
      `insert into ${this.s}.nodes (node_id, version, accept, started_on, heartbeat_at)
       values ($1, $2, $3::json, $4, now())
       on conflict (node_id) do update set
         version = excluded.version, accept = excluded.accept, started_on = excluded.started_on, heartbeat_at = now()
       returning (extract(epoch from clock_timestamp()) * 1000)::float8 as server_ms`,
      [node.nodeId, node.version, JSON.stringify(node.accept ?? {}), node.startedOn],
    );
    const received = performance.now();
    const storeMs = Number(res.rows[0]?.server_ms);
    if (!Number.isFinite(storeMs) || host !== this.host) return;
    try {
      host.clockSample?.({ storeMs, monotonicMs: (sent + received) / 2, roundTripMs: received - sent });
    } catch (err) {
      this.report('a host callback threw', err);
    }
  }

  private heartbeat(): void {
    if (!this.running) return;
    this.heartbeats++;
    this.register().catch((err: unknown) => this.report('heartbeat failed', err));
    if (this.heartbeats % 30 === 0) {
      const forgetAfterMs = Math.max(60_000, this.nodeTtlMs * 10);
      this.q(`delete from ${this.s}.nodes where heartbeat_at < now() - ($1::double precision * interval '1 millisecond')`, [
          forgetAfterMs,
        ])
        .catch((err: unknown) => this.report('cleaning the node registry failed', err));
    }
    if (this.listener) void this.checkListener();
    else this.scheduleReconnect();
    this.eventInterestHeartbeat();
  }

  private async unregister(): Promise<void> {
    const host = this.host;
    if (!host || !this.pool) return;
    await this.q(`delete from ${this.s}.nodes where node_id = $1`, [host.node.nodeId])
      .catch((err: unknown) => this.report('could not remove this node from the registry', err));
  }

  /**
   * Nodes whose heartbeat is younger than `nodeTtlMs` (database clock). Before `start()` (trigger
   * before start), the registry is read over a short-lived connection in the configured schema
   * (or `tasklane`); this node is then not listed yet.
   */
  liveNodes(): Promise<NodeDescriptor[]> {
    const host = this.host;
    if (!host || !this.pool) return this.liveNodesBeforeStart();
    this.nodesInflight ??= (async () => {
      try {
        const res = await this.q<NodeRow>(this.liveNodesSql(), [this.nodeTtlMs]);
        const nodes = res.rows.map(toNodeDescriptor);
        if (this.running && !nodes.some((n) => n.nodeId === host.node.nodeId)) {
          nodes.push({ ...host.node, heartbeatOn: new Date().toISOString() });
        }
        this.lastNodes = nodes;
        return nodes;
      } catch (err) {
        this.report('listing live nodes failed; answering with the last known list', err);
        return this.lastNodes ?? [{ ...host.node, heartbeatOn: new Date().toISOString() }];
      } finally {
        this.nodesInflight = undefined;
      }
    })();
    return this.nodesInflight;
  }

  private liveNodesSql(): string {
    return `select node_id, version, accept, started_on, heartbeat_at from ${this.s}.nodes
      where heartbeat_at > now() - ($1::double precision * interval '1 millisecond')
      order by node_id`;
  }

  private async liveNodesBeforeStart(): Promise<NodeDescriptor[]> {
    const s = quoteSchema(this.explicitSchema ?? 'tasklane');
    try {
      return await this.withShortLivedClient(async (client) => {
        const exists = await client.query<{ ok: boolean }>('select to_regclass($1) is not null as ok', [`${s}.nodes`]);
        if (!exists.rows[0]?.ok) return [];
        const res = await withTimeout(
          client.query<NodeRow>(
            `select node_id, version, accept, started_on, heartbeat_at from ${s}.nodes
             where heartbeat_at > now() - ($1::double precision * interval '1 millisecond')
             order by node_id`,
            [this.nodeTtlMs],
          ),
          this.queryTimeoutMs,
          () => destroySocket(client),
        );
        return res.rows.map(toNodeDescriptor);
      });
    } catch {
      return [];
    }
  }

  /** `fn` on a connection of its own, closed after it (calls made before start) */
  private async withShortLivedClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    const client = new (pgDriver('postgresDistribution()').Client)({
      connectionString: this.connectionString,
      application_name: this.appName('distribution', 'unstarted'),
      connectionTimeoutMillis: this.queryTimeoutMs,
      types: pgTypeParsers,
    });
    client.on('error', () => undefined);
    try {
      await withTimeout(client.connect(), this.queryTimeoutMs, () => destroySocket(client));
      return await fn(client);
    } finally {
      await closeClient(client);
    }
  }

  private report(what: string, err: unknown): void {
    const original = err instanceof Error && 'original' in err ? (err as { original: unknown }).original : err;
    const error =
      original instanceof StorageError
        ? original
        : storageFailure(`postgresDistribution: ${what}`, original);
    try {
      this.host?.error(error);
    } catch {
      // the host's error sink failed: nothing more to do
    }
  }
}

interface NodeRow {
  node_id: string;
  version: string;
  accept: string;
  started_on: string;
  heartbeat_at: Date;
}

function toNodeDescriptor(r: NodeRow): NodeDescriptor {
  return {
    nodeId: r.node_id,
    version: r.version,
    accept: JSON.parse(r.accept) as AcceptRules,
    startedOn: r.started_on,
    heartbeatOn: new Date(r.heartbeat_at).toISOString(),
  };
}

const RELAYED_TYPES = new Set(['submitted', 'started', 'progress', 'iteration', 'retrying']);

function readInterest(value: unknown): EventInterest | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as { all?: unknown; definitions?: unknown; runs?: unknown };
  const strings = (list: unknown) => (Array.isArray(list) ? list.filter((x): x is string => typeof x === 'string') : []);
  return { all: v.all === true, definitions: strings(v.definitions), runs: strings(v.runs) };
}

function readEventItem(item: unknown): RunEventNotice | undefined {
  if (!Array.isArray(item) || !RELAYED_TYPES.has(item[0]) || typeof item[1] !== 'string' || typeof item[2] !== 'string') return undefined;
  const notice: RunEventNotice = { type: item[0] as RunEventNotice['type'], runId: item[1], definitionId: item[2] };
  const run: unknown = item[3];
  if (typeof run === 'object' && run !== null && (run as TaskRun).id === notice.runId) notice.run = run as TaskRun;
  if (typeof item[4] === 'object' && item[4] !== null) notice.progress = item[4] as RunEventNotice['progress'];
  if (typeof item[5] === 'object' && item[5] !== null) notice.error = item[5] as RunEventNotice['error'];
  return notice;
}

/** a duration option: from 1 ms to 10 years (see checkDuration) */
function positive(value: number | undefined, fallback: number, name: string): number {
  return optionalDuration(value, `postgresDistribution: \`${name}\``, fallback, 1);
}

/** Ends a client politely, destroying its socket when it does not close within a second. */
async function closeClient(client: Client): Promise<void> {
  client.removeAllListeners('notification');
  client.removeAllListeners('end');
  client.removeAllListeners('error');
  client.on('error', () => undefined);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    client.end().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        destroySocket(client);
        resolve();
      }, 1000);
    }),
  ]);
  if (timer) clearTimeout(timer);
  destroySocket(client);
}

export function postgresDistribution(options: PostgresDistributionOptions): PostgresDistribution {
  return new PostgresDistribution(options);
}
