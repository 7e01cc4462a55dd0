import { StorageError, TasklaneError } from '../../api/errors';

/** SQLITE_BUSY or SQLITE_LOCKED (any extended code): another connection holds the lock */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

/**
 * SQLite's errors as StorageError. The message names the error's code (e.g. `SQLITE_CORRUPT`),
 * never SQLite's own message (it may quote SQL or values) nor the file's path: the original is the
 * `cause`, for operators and logs.
 */
export function normalise(error: unknown): unknown {
  if (isSqliteError(error) && !TasklaneError.is(error)) {
    return new StorageError(`SQLite storage: an operation on the database failed (${error.code})`, error);
  }
  return error;
}

/**
 * An error of SQLite, told by its code rather than `instanceof Database.SqliteError`: the native
 * binding keeps the SqliteError class of the first copy of better-sqlite3 that loaded it, so a
 * second copy (two bundles, a test runner's module registries) gets errors its class does not own,
 * and their message (SQL, values, the file's path) would have reached the caller. That class may
 * also belong to another realm (each jest test file runs in its own context, and the first file of
 * a worker to open a database gave the class its `Error`): `instanceof Error` is false there, and
 * better-sqlite3 builds its errors with a plain constructor function (`Error.call(this)`), so they
 * are no native errors either. Any object with a `SQLITE_` code counts.
 */
function isSqliteError(error: unknown): error is object & { code: string } {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof error === 'object' && error !== null && typeof code === 'string' && code.startsWith('SQLITE_');
}
