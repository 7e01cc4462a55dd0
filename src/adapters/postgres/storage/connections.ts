import type { Pool, PoolClient } from 'pg';
import { StorageError, TasklaneError } from '../../../api/errors';
import { errorMessage } from '../../../util/safe-string';
import {
  ConnectError,
  connect,
  createManagedPool,
  destroySocket,
  isConnectionError,
  isDeadlockOrSerialization,
  sleep,
  endPool,
  storageFailure,
  withTimeout,
} from '../pg-support';
import { quoteSchema } from '../postgres-migrations';

/** Where a statement's failure leaves us. */
export type OpKind =
  /** no side effect: retried once on a broken connection */
  | 'read'
  /** applying it twice is the same as once: retried once on a broken connection */
  | 'idempotent'
  /** retried only when it certainly did not take effect (no connection, deadlock victim) */
  | 'write';

class CommitFailedError extends Error {
  constructor(readonly original: unknown) {
    super(errorMessage(original));
    this.name = 'CommitFailedError';
  }
}

export interface ConnectionSettings {
  connectionString: string;
  schema: string;
  poolSize: number;
  connectionTimeoutMs: number;
  queryTimeoutMs: number;
  reconnectWindowMs: number;
  applicationName: string;
}

/**
 * The storage's connections and how a statement is run on them: two pools (everything, and claims
 * with their own session settings), retries by kind of statement (see {@link OpKind}), a bound on
 * each statement's time, and pool faults handed to `onError` listeners instead of the process.
 */
export class StorageConnections {
  /** the schema's name, quoted: the only text interpolated into the operations' SQL */
  readonly s: string;
  readonly schema: string;
  private pool: Pool | undefined;
  private closed = false;
  private readonly errorListeners = new Set<(error: Error) => void>();
  private lastPoolError: Error | undefined;

  constructor(private readonly settings: ConnectionSettings) {
    this.schema = settings.schema;
    this.s = quoteSchema(settings.schema);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** the most recent pool-level fault */
  get lastError(): Error | undefined {
    return this.lastPoolError;
  }

  onError(listener: (error: Error) => void): () => void {
    this.errorListeners.add(listener);
    return () => this.errorListeners.delete(listener);
  }

  /** usable again after close() */
  open(): void {
    this.closed = false;
  }

  async close(): Promise<void> {
    this.closed = true;
    const pools = [this.pool, this.claimPool];
    this.pool = undefined;
    this.claimPool = undefined;
    await Promise.all(pools.map((pool) => (pool ? endPool(pool) : undefined)));
  }

  mainPool(): Pool {
    if (this.closed) throw new StorageError('PostgreSQL storage is closed.');
    this.pool ??= createManagedPool({
      connectionString: this.settings.connectionString,
      max: this.settings.poolSize,
      applicationName: this.settings.applicationName,
      connectionTimeoutMillis: this.settings.connectionTimeoutMs,
      onError: (err) => this.reportError(err),
    });
    return this.pool;
  }

  /**
   * Connections for claims only (at most two claims overlap per node), whose sessions use generic
   * plans: the claim statement's plan does not depend on its parameters, and planning it anew for
   * every claim (as PostgreSQL's plan cache chooses for it) cost about 1 ms, a fifth of a claim.
   * A generic plan is kept until the table's statistics change, and one made while the table was
   * small would read it sequentially (the `after` check would then scan the whole table per
   * candidate): these sessions do not plan sequential scans, every access of the claim has an index.
   */
  private claimPool: Pool | undefined;

  private getClaimPool(): Pool {
    if (this.closed) throw new StorageError('PostgreSQL storage is closed.');
    this.claimPool ??= createManagedPool({
      connectionString: this.settings.connectionString,
      max: Math.min(2, this.settings.poolSize),
      applicationName: this.settings.applicationName,
      connectionTimeoutMillis: this.settings.connectionTimeoutMs,
      onError: (err) => this.reportError(err),
      sessionOptions: '-c plan_cache_mode=force_generic_plan -c enable_seqscan=off',
    });
    return this.claimPool;
  }

  private reportError(err: Error): void {
    this.lastPoolError = err;
    for (const listener of this.errorListeners) {
      try {
        listener(storageFailure('PostgreSQL storage: a pooled connection', err));
      } catch {
        // a listener's fault is not ours to raise
      }
    }
  }

  /**
   * Runs `fn` on a pooled client. Connection faults and deadlock victims are retried according to
   * `kind`; everything else becomes a StorageError.
   */
  async exec<T>(kind: OpKind, what: string, fn: (client: PoolClient) => Promise<T>, which: 'main' | 'claims' = 'main'): Promise<T> {
    const started = Date.now();
    let connectionRetries = 0;
    let conflictRetries = 0;
    let connectDelay = 50;
    let reported = false;
    for (;;) {
      const pool = which === 'claims' ? this.getClaimPool() : this.mainPool();
      let client: PoolClient | undefined;
      try {
        client = await connect(pool);
        const c = client;
        const result = await withTimeout(fn(c), this.settings.queryTimeoutMs, () => destroySocket(c));
        client.release();
        return result;
      } catch (err) {
        // A client that saw an error may sit in an aborted transaction or on a dead socket: drop it.
        if (client) client.release(true);
        if (TasklaneError.is(err)) throw err;
        const original = err instanceof ConnectError || err instanceof CommitFailedError ? err.original : err;
        const report = () => {
          if (reported) return;
          reported = true;
          this.reportError(original instanceof Error ? original : new Error(String(original)));
        };
        // the server rolled the statement back to break a deadlock: run it again
        if (isDeadlockOrSerialization(original) && !(err instanceof CommitFailedError) && conflictRetries < 8) {
          conflictRetries++;
          await sleep(5 + Math.random() * 20 * conflictRetries);
          continue;
        }
        // no connection: nothing was sent, any operation may wait for the server to come back
        if (err instanceof ConnectError && !this.closed && Date.now() - started + connectDelay <= this.settings.reconnectWindowMs) {
          report();
          await sleep(connectDelay);
          connectDelay = Math.min(connectDelay * 2, 1000);
          continue;
        }
        // the link broke under a statement: it may have been applied; only reads and idempotent
        // writes are run again (once, on a fresh connection)
        if (kind !== 'write' && connectionRetries < 1 && !this.closed && (isConnectionError(original) || err instanceof CommitFailedError)) {
          connectionRetries++;
          report();
          await sleep(10);
          continue;
        }
        throw storageFailure(`PostgreSQL storage: ${what}`, original);
      }
    }
  }

  /** `fn` between BEGIN and COMMIT on `client`; a failed COMMIT is retried as a broken link (see exec) */
  async transaction<T>(client: PoolClient, fn: () => Promise<T>): Promise<T> {
    await client.query('begin');
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    }
    try {
      await client.query('commit');
    } catch (err) {
      throw new CommitFailedError(err);
    }
    return result;
  }
}
