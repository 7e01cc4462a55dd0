import type { Client, Notification } from 'pg';
import { MAX_TIMER_MS } from '../../../util/duration';
import { pgDriver } from '../../shared/drivers';
import { destroySocket, pgTypeParsers } from '../pg-support';
import type { Channels } from './channels';
import { closeClient } from './pg-clients';

export interface ListenLinkOptions {
  connectionString: string;
  /** ms the link may take to answer its `SELECT 1` before it is replaced */
  listenerTimeoutMs: number;
  applicationName(): string;
  channels(): Channels;
  /** the distribution is started (a lost link is then replaced) */
  isRunning(): boolean;
  /** the distribution is stopping or stopped: a link that connects now is closed at once */
  isStopped(): boolean;
  onNotification(msg: Notification): void;
  /** the link is back after a loss: notices may have been missed meanwhile */
  onReconnected(): void;
  report(what: string, err: unknown): void;
}

/**
 * The LISTEN link: a dedicated connection, checked with `SELECT 1` (see check; a half-open link
 * is detected within about two checks), replaced on error/end/timeout with back-off (100 ms
 * doubling to 5 s), and subscribed exactly once per connection.
 */
export class ListenLink {
  private client: Client | undefined;
  private checking = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = 100;
  /** set by close(), cleared by reset(): a connect that ends after close() closes its client */
  private closed = false;
  /** connects in flight and closes of lost clients: close() waits for them, no socket outlives it */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** clients being connected (close() cuts those that take more than a second) */
  private readonly connecting = new Set<Client>();
  /** counts connections made (tests and diagnostics) */
  connects = 0;
  /** when the link was lost (epoch ms), until the caller has made up for the outage */
  lostAt: number | undefined;

  constructor(private readonly options: ListenLinkOptions) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** the backend pid of the link, when connected */
  get pid(): number | undefined {
    return (this.client as unknown as { processID?: number } | undefined)?.processID;
  }

  connect(): Promise<void> {
    return this.track(this.open());
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    const settled = promise.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return promise;
  }

  private async open(): Promise<void> {
    const o = this.options;
    const client = new (pgDriver('postgresDistribution()').Client)({
      connectionString: o.connectionString,
      keepAlive: true,
      application_name: o.applicationName(),
      connectionTimeoutMillis: Math.min(Math.max(o.listenerTimeoutMs, 5000), MAX_TIMER_MS),
      types: pgTypeParsers,
    });
    client.on('error', (err) => this.failed(client, err));
    client.on('end', () => this.failed(client, new Error('the LISTEN connection ended')));
    client.on('notification', (msg) => {
      if (this.client === client) o.onNotification(msg);
    });
    this.connecting.add(client);
    try {
      await client.connect();
      const { wake, abort, finish, restart, events, interest } = o.channels();
      await client.query(`listen "${wake}"; listen "${abort}"; listen "${finish}"; listen "${restart}"; listen "${events}"; listen "${interest}"`);
    } catch (err) {
      await closeClient(client);
      throw err;
    } finally {
      this.connecting.delete(client);
    }
    // closed meanwhile, or another connect won (one link at a time: a second one would be lost)
    if (this.closed || o.isStopped() || this.client !== undefined) {
      await closeClient(client);
      return;
    }
    this.client = client;
    this.connects++;
  }

  private failed(client: Client, err: unknown): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.lostAt ??= Date.now();
    void this.track(closeClient(client));
    this.options.report('the LISTEN connection was lost; reconnecting', err);
    this.scheduleReconnect();
  }

  /** at every heartbeat: the link answers, or is replaced */
  heartbeat(): void {
    if (this.client) void this.check();
    else this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    // a connect in flight (its timer has fired) is a reconnect already: the heartbeat that sees no
    // link meanwhile must not start another one
    if (!this.options.isRunning() || this.reconnectTimer || this.client || this.connecting.size > 0) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, 5000);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (!this.options.isRunning()) return;
      this.connect().then(
        () => {
          if (!this.client) return;
          this.reconnectDelay = 100;
          this.options.onReconnected();
        },
        (err: unknown) => {
          this.options.report('reconnecting the LISTEN connection failed; retrying', err);
          this.scheduleReconnect();
        },
      );
    }, delay);
    this.reconnectTimer.unref();
  }

  private async check(): Promise<void> {
    const client = this.client;
    if (!client || this.checking) return;
    this.checking = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('select 1'),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`the LISTEN connection did not answer within ${this.options.listenerTimeoutMs} ms`)),
            Math.min(this.options.listenerTimeoutMs, MAX_TIMER_MS),
          );
        }),
      ]);
    } catch (err) {
      this.failed(client, err);
    } finally {
      if (timer) clearTimeout(timer);
      this.checking = false;
    }
  }

  /** before a start: the back-off begins again */
  reset(): void {
    this.reconnectDelay = 100;
    this.closed = false;
  }

  /** closes the link and stops replacing it */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = undefined;
    const client = this.client;
    this.client = undefined;
    if (client) await closeClient(client);
    // a reconnect in flight closes its own client (closed is set); a lost one is being closed
    let cut: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      cut = setTimeout(() => {
        for (const c of this.connecting) destroySocket(c); // its connect fails, and closes it
        resolve();
      }, 1000);
    });
    await Promise.race([Promise.all([...this.inFlight]), waited]);
    clearTimeout(cut);
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.lostAt = undefined;
  }
}
