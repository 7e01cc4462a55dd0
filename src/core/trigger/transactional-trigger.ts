import { QueueFullError, TaskNotFoundError, TransactionRefusedError } from '../../api/errors';
import type { TaskRun } from '../../api/types';
import type { HostTransaction, MaybePromise, TransactionSession } from '../../ports/transaction';
import { andThen, orCleanUp } from '../../util/maybe-promise';
import type { BacklogGate } from './backlog-gate';
import { toPublicRun } from '../public-run';
import type { TriggerDeps, TriggerRequest, TriggerSteps } from './trigger-request';

/**
 * `trigger({ transaction })`: the run is stored through the host's own open transaction, so it
 * exists if and only if the host commits (graphile-worker's and pg-boss's "enqueue in the same
 * transaction as your business write").
 *
 * The usual trigger steps all happen, in the usual order, and a refusal stores nothing:
 * validate input -> open the session (the storage refuses a handle it cannot use, with
 * TransactionRefusedError) -> `begin()` (PostgreSQL: a savepoint, which also proves the client
 * is in a transaction, and a check that it is on the storage's database) -> look up `key`, then
 * `parent` and `after`, through the transaction (so a run triggered earlier in the same
 * transaction counts) -> the cluster check -> `onBeforeTrigger` -> insert through the
 * transaction -> the distribution's wake-up through the transaction (PostgreSQL: `pg_notify`,
 * delivered at commit, dropped at rollback) -> `end(true)` (the savepoint released). A failure
 * after `begin()` undoes the session's own work (`end(false)`: rolled back to the savepoint)
 * and leaves the host's transaction usable.
 *
 * Not on the engine's insert batcher: the statements are the host's connection's, in the
 * host's order, and `trigger()` resolves once they are done, so the host can COMMIT after it.
 *
 * Every step stays synchronous while the adapter's answers are (better-sqlite3), so with a
 * synchronous (or no) `onBeforeTrigger` and an open storage, the run is inserted before
 * `trigger()` returns: that is what makes it usable inside better-sqlite3's synchronous
 * `db.transaction(fn)`. An asynchronous hook, or a cluster check, moves the insert to a later
 * tick: inside `db.transaction(fn)` the transaction has ended by then and the trigger is refused
 * (use `BEGIN` ... `await trigger()` ... `COMMIT` for those).
 *
 * What this node announces, and when: nothing before the commit. `trigger()` resolves with the
 * pending run at once (the host must be able to COMMIT after it), but the `submitted` event and
 * the local wake-up wait until the run is seen committed: the {@link TransactionWatch} asks the
 * storage how the host's transaction ended, then whether the run is stored (or sees it claimed
 * or ended first, and announces it then, before `started` and the end events). A run whose
 * transaction rolled back is never announced, and a `wait()` on it ends with TaskNotFoundError.
 */
export class TransactionalTrigger {
  constructor(
    private readonly deps: TriggerDeps,
    private readonly pipeline: TriggerSteps,
  ) {}

  trigger(request: TriggerRequest, tx: HostTransaction): Promise<TaskRun> {
    // the cluster check runs from prepare(); it is awaited below unless an earlier step refuses
    request.eligible?.catch(() => undefined);
    let result: MaybePromise<TaskRun>;
    try {
      const session = this.open(tx);
      result = andThen(this.deps.gate.isReady ? undefined : this.deps.gate.ready(), () =>
        andThen(session.begin(), () =>
          orCleanUp(
            () => this.steps(request, tx, session),
            () => session.end(false),
          ),
        ),
      );
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve(result);
  }

  private open(tx: HostTransaction): TransactionSession {
    const storage = this.deps.storage;
    if (!storage.capabilities.transactions || typeof storage.openTransaction !== 'function') {
      throw new TransactionRefusedError(
        `trigger({ transaction }): ${storage.constructor.name} cannot store a run through a host transaction; use sqliteStorage or postgresStorage, or trigger after your commit.`,
      );
    }
    if (typeof tx !== 'object' || tx === null) {
      throw new TransactionRefusedError('trigger({ transaction }): expected a pg client after BEGIN or a better-sqlite3 Database in a transaction.');
    }
    return storage.openTransaction(tx);
  }

  /** from the key lookup to the insert, every read through the host's transaction */
  private steps(request: TriggerRequest, tx: HostTransaction, session: TransactionSession): MaybePromise<TaskRun> {
    const { def, key, gate } = request;
    return andThen(key === undefined ? null : session.findUnfinishedByKey(def.id, key), (existing) => {
      if (existing) return andThen(session.end(true), () => toPublicRun(existing));
      // maxBacklog, after the key as for any trigger: decided at once while the count allows it
      // (so a trigger inside better-sqlite3's db.transaction(fn) stays synchronous); a count that
      // must be read again makes the trigger asynchronous
      const progress = { sent: false };
      return andThen(gate === undefined ? undefined : this.admit(gate), () =>
        orCleanUp(
          () =>
            andThen(this.checkLinks(request, session), () =>
              andThen(request.eligible, () => andThen(this.pipeline.beforeTrigger(request), () => this.insert(request, tx, session, progress))),
            ),
          // refused before the insert: its place is given back (after it, insertFailed accounts)
          () => !progress.sent && gate?.cancel(),
        ),
      );
    });
  }

  private admit(gate: BacklogGate): MaybePromise<void> {
    const verdict = this.deps.backlog.tryAdmit(gate);
    if (verdict === 'admitted') return undefined;
    if (verdict === 'full') throw new QueueFullError(gate.definitionId, gate.limit);
    return this.deps.backlog.admit(gate);
  }

  /** `parent` and `after` must name stored runs (or runs of this same transaction) */
  private checkLinks(request: TriggerRequest, session: TransactionSession): MaybePromise<void> {
    const ids = [request.parentId, request.after].filter((x): x is string => x !== undefined);
    if (ids.length === 0) return undefined;
    return andThen(session.getRuns(ids), (runs) => {
      const found = new Set(runs.map((r) => r.id));
      for (const id of ids) if (!found.has(id)) throw new TaskNotFoundError(id);
    });
  }

  private insert(request: TriggerRequest, tx: HostTransaction, session: TransactionSession, progress: { sent: boolean }): MaybePromise<TaskRun> {
    const record = this.pipeline.newRecord(request);
    const counted = request.gate !== undefined;
    // counted as the grouped insert counts its runs (a rollback is seen at the next read)
    if (counted) this.deps.backlog.sending([record]);
    progress.sent = true;
    const inserted = orCleanUp(
      () => session.insertRuns([record]),
      () => counted && this.deps.backlog.insertFailed([record]),
    );
    return andThen(inserted, ([result]) => {
      if (counted) {
        this.deps.backlog.answered([record], [result]);
        // the host may still roll back: a trigger the count would refuse reads it again first
        this.deps.backlog.left(record.definitionId);
      }
      // the key is held by another unfinished run (maybe of this same transaction): nothing new
      if (!result.created) return andThen(session.end(true), () => toPublicRun(result.run));
      const distribution = this.deps.distribution;
      const notified = distribution.runnableInTransaction ? distribution.runnableInTransaction(tx, [result.run]) : false;
      return andThen(notified, (woken) =>
        andThen(session.end(true), () => {
          this.deps.transactions.watch(session, [result.run], woken);
          return toPublicRun(result.run);
        }),
      );
    });
  }
}
