import type * as Pg from 'pg';
import type BetterSqlite3 from 'better-sqlite3';
import { DriverMissingError } from '../../api/errors';

/**
 * The database drivers are optional peer dependencies: a host installs the ones its adapters use
 * (a PostgreSQL-only host never compiles better-sqlite3). Each is loaded here, when an adapter
 * that needs it is created, never when the package is imported; a missing one is a
 * DriverMissingError that says what to install.
 */

interface DriverSpec {
  /** the package to require */
  name: string;
  /** the range tasklane is tested with (the peer dependency's) */
  range: string;
}

const PG: DriverSpec = { name: 'pg', range: '8' };
const SQLITE: DriverSpec = { name: 'better-sqlite3', range: '12' };

let pg: typeof Pg | undefined;
let sqlite: typeof BetterSqlite3 | undefined;

/** the `pg` module, for postgresStorage, postgresDistribution and pgAdmin */
export function pgDriver(adapter: string): typeof Pg {
  return (pg ??= load<typeof Pg>(PG, adapter));
}

/** better-sqlite3's Database class, for sqliteStorage */
export function sqliteDriver(adapter: string): typeof BetterSqlite3 {
  return (sqlite ??= load<typeof BetterSqlite3>(SQLITE, adapter));
}

function load<T>(spec: DriverSpec, adapter: string): T {
  try {
    // a plain require: the driver is resolved from the host's node_modules, as a peer
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(spec.name) as T;
  } catch (err) {
    if (isNotFound(err, spec.name)) throw new DriverMissingError(adapter, spec.name, spec.range, err);
    throw err;
  }
}

/** the driver itself is missing (not one of its own dependencies, which is another fault) */
function isNotFound(err: unknown, name: string): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string' && e.message.includes(`'${name}'`);
}
