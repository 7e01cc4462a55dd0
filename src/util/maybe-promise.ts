import type { MaybePromise } from '../ports/transaction';

export function isPromiseLike<T>(value: MaybePromise<T> | PromiseLike<T>): value is PromiseLike<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/**
 * `next(value)`, synchronously when `value` is not a promise. A chain of these stays synchronous
 * as long as every step is, so a transactional trigger on better-sqlite3 stores its run before
 * `trigger()` returns (inside the host's `db.transaction(fn)`).
 */
export function andThen<T, R>(value: MaybePromise<T>, next: (value: T) => MaybePromise<R>): MaybePromise<R> {
  return isPromiseLike(value) ? Promise.resolve(value).then(next) : next(value);
}

/** `cleanup()` with its failure ignored (it runs on the way out of another failure). */
function quietly(cleanup: () => MaybePromise<unknown>): MaybePromise<void> {
  try {
    const result = cleanup();
    if (isPromiseLike(result))
      return Promise.resolve(result).then(
        () => undefined,
        () => undefined,
      );
  } catch {
    // the original failure is what the caller must see
  }
  return undefined;
}

/** `fn()`; when it throws or rejects, `cleanup()` runs (its own failure ignored) and the error goes on. */
export function orCleanUp<R>(fn: () => MaybePromise<R>, cleanup: () => MaybePromise<unknown>): MaybePromise<R> {
  let value: MaybePromise<R>;
  try {
    value = fn();
  } catch (err) {
    return andThen(quietly(cleanup), () => {
      throw err;
    });
  }
  if (!isPromiseLike(value)) return value;
  return Promise.resolve(value).then(undefined, (err: unknown) =>
    Promise.resolve(quietly(cleanup)).then(() => {
      throw err;
    }),
  );
}
