import type Database from 'better-sqlite3';
import { StorageError } from '../../api/errors';
import { isBusy, normalise } from './sqlite-errors';

/** how long SQLITE_BUSY is retried (after busy_timeout) before it reaches the caller */
const RETRY_FOR_MS = 60_000;

/**
 * The storage's waits for SQLite's write lock: its statements retried while SQLITE_BUSY lasts,
 * and its busy_timeout lowered while a host connection of this process holds the lock.
 */
export class BusyRetry {
  /** the storage's open connection (undefined while opening, and once closed) */
  private db: Database.Database | undefined;
  /** host connections of this process that triggered through their transaction, while it may be open */
  private readonly hostsInTransaction = new Set<Database.Database>();
  /** busy_timeout is 0 while a host connection of this process may hold the write lock (see yieldToHosts) */
  private busyTimeoutLowered = false;

  constructor(private readonly busyTimeoutMs: number) {}

  /** the storage's connection, opened with busy_timeout = busyTimeoutMs (undefined: closed) */
  connected(db: Database.Database | undefined): void {
    this.db = db;
    this.busyTimeoutLowered = false;
  }

  /** a host connection triggered through its transaction: it may hold the write lock until it ends */
  hostInTransaction(host: Database.Database): void {
    this.hostsInTransaction.add(host);
    this.yieldToHosts();
  }

  /**
   * A host connection of this process in a write transaction holds SQLite's write lock until the
   * host commits, which it can only do when this thread yields. A statement of ours waiting in
   * SQLite's busy handler would block the thread, host included, for the whole busy_timeout
   * (a claim of the poll, every pollMs). So while a host connection that triggered through its
   * transaction is still in it, busy_timeout is 0 here: our statements fail at once with
   * SQLITE_BUSY and `run` tries again after a pause, letting the host go on. Restored once
   * every such transaction has ended.
   */
  private yieldToHosts(): void {
    for (const host of this.hostsInTransaction) if (!host.open || !host.inTransaction) this.hostsInTransaction.delete(host);
    const lower = this.hostsInTransaction.size > 0;
    if (lower === this.busyTimeoutLowered || !this.db?.open) return;
    this.db.pragma(`busy_timeout = ${lower ? 0 : this.busyTimeoutMs}`);
    this.busyTimeoutLowered = lower;
  }

  /**
   * Runs `fn`, retrying while SQLite answers BUSY/LOCKED (another process held the write lock for
   * longer than busy_timeout, or a WAL recovery was running). `fn` is always a whole transaction
   * (or a single statement), so a retry repeats it from the start. Other SQLite errors are wrapped
   * in a StorageError that keeps the original as `cause`.
   */
  async run<T>(fn: () => T): Promise<T> {
    const deadline = Date.now() + RETRY_FOR_MS + this.busyTimeoutMs;
    let pause = 2;
    for (;;) {
      if (this.hostsInTransaction.size > 0 || this.busyTimeoutLowered) this.yieldToHosts();
      try {
        return fn();
      } catch (error) {
        if (!isBusy(error)) throw normalise(error);
        if (Date.now() > deadline) {
          throw new StorageError(`SQLite storage: the database stayed locked by another process for more than ${RETRY_FOR_MS} ms.`, error);
        }
        await new Promise((done) => setTimeout(done, pause + Math.random() * pause));
        pause = Math.min(pause * 2, 100);
      }
    }
  }
}
