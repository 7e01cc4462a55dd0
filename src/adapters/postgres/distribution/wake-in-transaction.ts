import type { RunnableNotice } from '../../../ports/distribution';
import type { PostgresTransaction } from '../../../ports/transaction';
import { storageFailure } from '../pg-support';
import { wakePayload, type WakeEntries } from '../wake-payload';
import { INLINE_DEFINITION, MAX_PAYLOAD } from './notices';

/**
 * The wake-up of runs stored through a host's transaction, as one `pg_notify` on that
 * transaction (see PostgresDistribution.runnableInTransaction). False, without a statement, when
 * there is nothing to announce or the payload would be too large (the engine then announces the
 * runs once it sees them committed). A failed NOTIFY is thrown.
 */
export function wakeInTransaction(tx: PostgresTransaction, channel: string, nodeId: string, now: number, notices: RunnableNotice[]): false | Promise<boolean> {
  const entries: WakeEntries = Object.create(null) as WakeEntries;
  let count = 0;
  for (const n of notices) {
    if (n.definitionId === INLINE_DEFINITION) continue;
    const due = Number.isFinite(n.dueAt) && n.dueAt > now ? n.dueAt : 0;
    (entries[n.definitionId] ??= []).push(due);
    count++;
  }
  if (count === 0) return false;
  const payload = wakePayload(entries, { transactionOf: nodeId });
  if (payload.length > MAX_PAYLOAD) return false;
  return tx.query('select pg_notify($1, $2)', [channel, payload]).then(
    () => true,
    (err: unknown) => {
      throw storageFailure("postgresDistribution: the wake-up NOTIFY in the host's transaction", err);
    },
  );
}
