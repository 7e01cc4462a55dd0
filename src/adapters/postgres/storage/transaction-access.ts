import { TransactionRefusedError } from '../../../api/errors';
import type { RunRecord } from '../../../ports/run-record';
import type { HostTransaction, PostgresTransaction } from '../../../ports/transaction';
import { storageFailure } from '../pg-support';
import { PostgresTransactionSession, type PostgresIdentity, type PostgresRunAccess } from '../postgres-transaction';
import { storable } from './column-values';
import type { StorageConnections } from './connections';
import { insertRowsOf, insertRuns, transactionLink } from './insert-runs';
import type { InsertStatements } from './insert-statement';
import { pgTextArray } from './pg-arrays';
import { portableCols, toRecord, UNFINISHED, type RunRow } from './run-row';

/**
 * A transactional trigger through the host's own `pg` client after BEGIN: the insert of
 * `insertRuns` (same record checks, same key answer, in (definition, key, id) order) on the
 * host's connection, inside a savepoint (see PostgresTransactionSession). Refused at once with
 * TransactionRefusedError: a better-sqlite3 Database, anything without `query()`, a `pg.Pool`
 * (each of its queries may go to another connection); in `begin()`: a client not in a
 * transaction or in an aborted one, a client on another database or without this schema.
 */
export function openTransaction(tx: HostTransaction, access: PostgresRunAccess): PostgresTransactionSession {
  const what = 'trigger({ transaction }) on postgresStorage';
  const handle = tx as Partial<Record<'query' | 'prepare' | 'inTransaction' | 'totalCount' | 'idleCount', unknown>>;
  if (typeof handle.prepare === 'function' && typeof handle.inTransaction === 'boolean') {
    throw new TransactionRefusedError(`${what}: got a better-sqlite3 Database; the transaction must be a pg client (Client or PoolClient) after BEGIN.`);
  }
  if (typeof handle.query !== 'function') {
    throw new TransactionRefusedError(`${what}: the transaction must be a pg client (Client or PoolClient) after BEGIN.`);
  }
  if (typeof handle.totalCount === 'number' && typeof handle.idleCount === 'number') {
    throw new TransactionRefusedError(
      `${what}: got a pg Pool, whose queries may each go to another connection; pass the client of pool.connect() on which you issued BEGIN.`,
    );
  }
  return new PostgresTransactionSession(tx as PostgresTransaction, access);
}

async function throughTransaction(tx: PostgresTransaction, what: string, text: string, values: unknown[]): Promise<RunRow[]> {
  try {
    return (await tx.query(text, values)).rows as RunRow[];
  } catch (err) {
    throw storageFailure(`PostgreSQL storage: ${what} through the host's transaction`, err);
  }
}

/**
 * What a transaction session asks of the storage: reads and the insert on the host's client
 * (run columns read portably: the host's type parsers are not the storage's), the transaction's
 * outcome on the storage's own pool.
 */
export function transactionAccess(db: StorageConnections, statements: InsertStatements, identity: () => Promise<PostgresIdentity>): PostgresRunAccess {
  const s = db.s;
  return {
    runsTableName: () => `${s}.runs`,
    identity,
    findUnfinishedByKey: async (tx, definitionId, key) => {
      if (!storable(definitionId) || !storable(key)) return null;
      const rows = await throughTransaction(
        tx,
        'findUnfinishedByKey',
        `select ${portableCols('r')} from ${s}.runs r
         where r.definition_id = $1 and r.key = $2 and r.status in ${UNFINISHED} limit 1`,
        [definitionId, key],
      );
      return rows[0] ? toRecord(rows[0]) : null;
    },
    getRuns: async (tx, ids): Promise<RunRecord[]> => {
      const wanted = [...new Set(ids.filter(storable))];
      if (wanted.length === 0) return [];
      const rows = await throughTransaction(tx, 'getRuns', `select ${portableCols('r')} from ${s}.runs r where r.id = any($1::text[])`, [pgTextArray(wanted)]);
      return rows.map(toRecord);
    },
    insertRuns: (tx, runs) => {
      if (runs.length === 0) return Promise.resolve([]);
      let rows;
      try {
        rows = insertRowsOf(runs); // as insertRuns: nothing is sent when a field is refused
      } catch (err) {
        return Promise.reject(err);
      }
      return insertRuns(s, statements, transactionLink(tx), runs, rows);
    },
    transactionStatus: (xid) =>
      db.exec('read', 'transactionStatus', async (client) => {
        const res = await client.query<{ status: string | null }>('select pg_xact_status($1::xid8) as status', [xid]);
        return res.rows[0]?.status ?? null;
      }),
  };
}
