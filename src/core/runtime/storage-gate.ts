import { InvalidStateError } from '../../api/errors';
import type { RunStorage } from '../../ports/storage';

/** What follows the opening and the closing of storage (resumed watches, a waiter sweep, cached counts). */
export interface StorageListener {
  /** storage was opened (again) */
  opened?(): void;
  /** a stop closes storage (called first, whether or not it was open) */
  stopping?(): void;
  /** an open (or opening) storage is about to be closed */
  closing?(): void;
  /** storage is no longer open to this node (just before it closes) */
  closed?(): void;
}

/**
 * The opening and closing of the node's storage: opened once by the first caller, closed by a
 * stop, and opened again only by a caller (never by the engine's own background work: see whenOpen).
 */
export class StorageGate {
  /** storage was initialised: callers on the hot path skip awaiting ready() */
  isReady = false;
  private storageReady?: Promise<void>;
  /** stop() closed the storage and no caller has opened it since */
  private closedByStop = false;
  private readonly listeners: StorageListener[] = [];

  constructor(private readonly storage: RunStorage) {}

  /** `listener` hears every opening and closing from now on */
  listen(listener: StorageListener): void {
    this.listeners.push(listener);
  }

  /**
   * Initialises storage once, and opens it again after a stop. For callers (TaskService calls,
   * trigger() works before start(), engine.start()) only: the engine's own background work uses
   * {@link whenOpen}, which never reopens a store a stop closed.
   */
  ready(): Promise<void> {
    this.closedByStop = false;
    if (!this.storageReady) {
      this.storageReady = this.storage.init().then(
        () => {
          this.isReady = true;
          for (const l of this.listeners) l.opened?.();
        },
        (err: unknown) => {
          this.storageReady = undefined;
          throw err;
        },
      );
    }
    return this.storageReady;
  }

  /**
   * For the engine's own work (batched writes, write retries, the waiter sweep, backlog reads):
   * undefined when storage is open, the opening when it is under way. After a stop closed it,
   * a rejection (InvalidStateError) instead of opening it again: a retry or timer left over from
   * before the stop must not reopen the store, nor re-create a schema dropped meanwhile. Before
   * the first start, it opens storage as ready() does (trigger() works before start()).
   */
  whenOpen(): Promise<void> | undefined {
    if (this.isReady) return undefined;
    if (this.storageReady) return this.storageReady;
    if (this.closedByStop)
      return Promise.reject(
        new InvalidStateError('tasklane: the engine was stopped and its storage closed; nothing more is written until it starts again or a caller uses it'),
      );
    return this.ready();
  }

  /** storage is closed after a stop (see whenOpen) */
  get stopped(): boolean {
    return this.closedByStop;
  }

  async close(): Promise<void> {
    this.closedByStop = true;
    for (const l of this.listeners) l.stopping?.();
    if (!this.storageReady) return;
    for (const l of this.listeners) l.closing?.();
    await this.storageReady.catch(() => undefined);
    this.storageReady = undefined;
    this.isReady = false;
    for (const l of this.listeners) l.closed?.();
    await this.storage.close();
  }
}
