import type { CustomTypesConfig, Pool, PoolClient, PoolConfig } from 'pg';
import { StorageError } from '../../api/errors';
import { errorMessage } from '../../util/safe-string';
import { pgDriver } from '../shared/drivers';

/**
 * Connection plumbing shared by the PostgreSQL storage and distribution: a pool that never crashes
 * the process, type parsing that keeps JSON exact, and the classification of errors into "the
 * connection broke" and "the statement was certainly not applied".
 */

const OID_INT8 = 20;
const OID_JSON = 114;
const OID_JSONB = 3802;

/**
 * JSON columns come back as their text (parsed by the adapter, so SQL NULL and JSON `null` stay
 * distinct); int8 columns as numbers (epoch ms fit in a double).
 */
export const pgTypeParsers: CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === OID_JSON || oid === OID_JSONB) return (value: string) => value;
    if (oid === OID_INT8) return (value: string) => Number(value);
    const pgTypes = pgDriver('the PostgreSQL adapter').types; // loaded already: only a pool or client asks
    return format === 'binary' ? pgTypes.getTypeParser(oid, 'binary') : pgTypes.getTypeParser(oid, 'text');
  }) as CustomTypesConfig['getTypeParser'],
};

export interface ManagedPoolOptions {
  connectionString: string;
  max: number;
  applicationName: string;
  /** receives every error of an idle or checked-out client, and of the pool */
  onError(error: Error): void;
  connectionTimeoutMillis?: number;
  /** session settings sent at connection start (the `options` startup parameter, e.g. `-c name=value`) */
  sessionOptions?: string;
}

/** A pg.Pool whose clients' errors are always listened to: a terminated backend never crashes. */
export function createManagedPool(options: ManagedPoolOptions): Pool {
  const { Pool } = pgDriver('the PostgreSQL adapter'); // loaded when the adapter was created
  const config: PoolConfig = {
    connectionString: options.connectionString,
    max: options.max,
    application_name: options.applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 10_000,
    idleTimeoutMillis: 30_000,
    types: pgTypeParsers,
    ...(options.sessionOptions ? { options: options.sessionOptions } : {}),
  };
  const pool = new Pool(config);
  const open = new Set<object>();
  openClients.set(pool, open);
  pool.on('error', (err) => options.onError(err));
  pool.on('connect', (client) => {
    open.add(client);
    // A checked-out client has no pool listener: without this one an 'error' would be thrown.
    client.on('error', (err) => options.onError(err));
  });
  // emitted once a client's connection has closed (its socket's 'close'), after pool.end() too
  pool.on('remove', (client) => open.delete(client));
  return pool;
}

/** the clients of each managed pool whose connection has not closed yet */
const openClients = new WeakMap<Pool, Set<object>>();

/**
 * Ends a managed pool and resolves once its connections have closed, at most `timeoutMs` later
 * (then their sockets are destroyed). `pool.end()` alone resolves as soon as every client was
 * told to end, while their sockets are still open: a stopped storage or distribution then left a
 * TCP socket behind for a few milliseconds (seen as one resource too many after stop() under
 * load, postgres-distribution.test.ts).
 */
export async function endPool(pool: Pool, timeoutMs = 2000): Promise<void> {
  const open = openClients.get(pool) ?? new Set<object>();
  let timer: NodeJS.Timeout | undefined;
  const closed = new Promise<void>((resolve) => {
    const check = () => {
      if (open.size > 0) return;
      pool.off('remove', check);
      resolve();
    };
    pool.on('remove', check);
    timer = setTimeout(() => {
      pool.off('remove', check);
      resolve();
    }, timeoutMs);
    void pool.end().then(check, check);
  });
  await closed;
  if (timer) clearTimeout(timer);
  await Promise.all([...open].map((client) => closeSocket(client)));
  open.clear();
}

const CONNECTION_CODES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
  '53300', // too_many_connections
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

export function codeOf(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err) {
    const code = (err as { code?: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function messageOf(err: unknown): string {
  return errorMessage(err);
}

/**
 * A StorageError for a failed operation. Its message says what failed and the error's code (a
 * SQLSTATE such as `22021`, or a socket code such as `ECONNREFUSED`), never the driver's or the
 * server's message, which may quote SQL, values or schema names: that error is the `cause`, for
 * operators and logs, and never reaches a caller in the message.
 */
export function storageFailure(what: string, err: unknown): StorageError {
  const code = codeOf(err);
  const detail = code !== undefined ? (/^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}` : code) : isConnectionError(err) ? 'connection lost' : 'see its cause';
  return new StorageError(`${what} failed (${detail})`, err);
}

/** The connection broke (or could not be made): another connection may well succeed. */
export function isConnectionError(err: unknown): boolean {
  const code = codeOf(err);
  if (code !== undefined && CONNECTION_CODES.has(code)) return true;
  return /Connection terminated|connection error|Client has encountered a connection error|not queryable|timeout exceeded when trying to connect|Client was closed|socket hang up/i.test(
    messageOf(err),
  );
}

export function isDeadlockOrSerialization(err: unknown): boolean {
  const code = codeOf(err);
  return code === '40P01' || code === '40001';
}

/** Marks an error raised while getting a connection (nothing was sent: always safe to retry). */
export class ConnectError extends Error {
  constructor(readonly original: unknown) {
    super(messageOf(original));
    this.name = 'ConnectError';
  }
}

export async function connect(pool: Pool): Promise<PoolClient> {
  try {
    return await pool.connect();
  } catch (err) {
    throw new ConnectError(err);
  }
}

/** Destroys a client's socket at once (a half-open link would make `end()` hang). */
export function destroySocket(client: object): void {
  const connection = (client as { connection?: { stream?: { destroy?: () => void } } }).connection;
  try {
    connection?.stream?.destroy?.();
  } catch {
    // already gone
  }
}

type ClosableStream = { destroy?: () => void; destroyed?: boolean; closed?: boolean; once?: (event: 'close', fn: () => void) => unknown };

/**
 * Destroys a client's socket and resolves once Node has closed its handle. `destroy()` only
 * schedules the close: a stop() that resolved right after it left a TCP handle open for a moment,
 * which a host checking its handles (or a test's leak guard) saw. Bounded: resolves after a
 * second whatever happens.
 */
export function closeSocket(client: object): Promise<void> {
  const stream = (client as { connection?: { stream?: ClosableStream } }).connection?.stream;
  if (!stream || typeof stream.destroy !== 'function' || stream.closed === true || typeof stream.once !== 'function') {
    destroySocket(client);
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 1000);
    stream.once!('close', () => {
      clearTimeout(timer);
      resolve();
    });
    destroySocket(client);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The operation did not answer in time; its connection was destroyed (the link may be half-open). */
export class QueryTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(ms: number) {
    super(`PostgreSQL did not answer within ${ms} ms (the connection was dropped)`);
    this.name = 'QueryTimeoutError';
  }
}

/**
 * Resolves like `work`, unless it takes longer than `ms`: then `onTimeout` runs (it destroys the
 * connection, which also fails `work`) and a QueryTimeoutError is thrown.
 */
export async function withTimeout<T>(work: Promise<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          onTimeout();
          reject(new QueryTimeoutError(ms));
        }, ms);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
