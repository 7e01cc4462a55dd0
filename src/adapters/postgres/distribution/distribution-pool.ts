import type { Pool, PoolClient, QueryResult, QueryResultRow } from 'pg';
import { StorageError } from '../../../api/errors';
import { closeSocket, connect, createManagedPool, destroySocket, endPool, withTimeout } from '../pg-support';

/**
 * The distribution's own connections (three: NOTIFYs, the registry, replays), open from its
 * start to its teardown. Every statement is bounded in time: a half-open link is dropped.
 */
export class DistributionPool {
  private pool: Pool | undefined;
  private readonly checkedOut = new Set<PoolClient>();

  constructor(private readonly queryTimeoutMs: number) {}

  get open(): boolean {
    return this.pool !== undefined;
  }

  start(options: { connectionString: string; applicationName: string; onError: (err: Error) => void }): Pool {
    this.pool = createManagedPool({
      connectionString: options.connectionString,
      max: 3,
      applicationName: options.applicationName,
      connectionTimeoutMillis: this.queryTimeoutMs,
      onError: options.onError,
    });
    return this.pool;
  }

  /** One statement on a pooled connection, bounded in time (a half-open link is dropped). */
  async q<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
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

  /** ends the pool; connections still checked out are cut */
  async close(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    if (pool) await endPool(pool);
    await Promise.all([...this.checkedOut].map((client) => closeSocket(client)));
    this.checkedOut.clear();
  }
}
