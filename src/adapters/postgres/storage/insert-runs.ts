import { StorageError, TasklaneError } from '../../../api/errors';
import type { RunRecord } from '../../../ports/run-record';
import type { PostgresTransaction } from '../../../ports/transaction';
import { codeOf, isConnectionError, storageFailure } from '../pg-support';
import { chunkBySize, MAX_BATCH_BYTES, MAX_BATCH_ROWS } from './batches';
import type { StorageConnections } from './connections';
import { insertRowSize, sortedForInsert, toInsertRow, type InsertRow } from './insert-row';
import type { InsertStatement, InsertStatements } from './insert-statement';
import { cols, portableCols, toRecord, UNFINISHED, type RunRow } from './run-row';

export type InsertResult = { run: RunRecord; created: boolean };

/** a row of the lookup of existing runs: the run, and the index of the run asked for */
type ExistingRow = RunRow & { req: number };

/** Where the statements of an insert go: the storage's pool, or a host's transaction. */
export interface InsertLink {
  /** the insert without conflict handling (all or nothing); absent where a failed statement would cost more than a round trip */
  plain?(statement: InsertStatement): Promise<void>;
  /** the insert that skips conflicts; answers the ids inserted */
  skipConflicts(statement: InsertStatement): Promise<Set<string>>;
  /** the rows of the lookup of existing runs, whose text is made for the link's run columns */
  existing(text: (runColumns: string) => string, values: unknown[]): Promise<ExistingRow[]>;
}

/** inserts on the storage's own connections, retried as their kind allows (see StorageConnections.exec) */
export function poolLink(db: StorageConnections): InsertLink {
  return {
    plain: async (statement) => {
      await db.exec('write', 'insertRuns', (client) => client.query({ name: statement.name, text: statement.text, values: statement.values }));
    },
    skipConflicts: (statement) =>
      db.exec('idempotent', 'insertRuns', async (client) => {
        const res = await client.query<{ id: string }>({ name: statement.name, text: statement.text, values: statement.values });
        return new Set(res.rows.map((r) => r.id));
      }),
    existing: (text, values) => db.exec('read', 'insertRuns', async (client) => (await client.query<ExistingRow>(text(cols('r')), values)).rows),
  };
}

/**
 * Inserts on a host's transaction: no retry (the host's transaction decides), never the plain
 * insert (a duplicate id would abort the host's transaction), statements unnamed (any client
 * with `query(text, values)` will do), run columns read portably.
 */
export function transactionLink(tx: PostgresTransaction): InsertLink {
  const run = async <R>(text: string, values: unknown[]): Promise<R[]> => {
    try {
      return (await tx.query(text, values)).rows as R[];
    } catch (err) {
      if (TasklaneError.is(err)) throw err;
      throw storageFailure("PostgreSQL storage: insertRuns through the host's transaction", err);
    }
  };
  return {
    skipConflicts: async (statement) => new Set((await run<{ id: string }>(statement.text, statement.values)).map((r) => r.id)),
    existing: (text, values) => run<ExistingRow>(text(portableCols('r')), values),
  };
}

/**
 * Inserts `runs` (their rows, validated: see toInsertRow) through `link`, answering for each the
 * run created, or the run that exists already: the same id, or the unfinished run holding the
 * same idempotency key.
 */
export async function insertRuns(s: string, statements: InsertStatements, link: InsertLink, runs: RunRecord[], rows: InsertRow[]): Promise<InsertResult[]> {
  const results = new Array<InsertResult | undefined>(runs.length);
  // (definition, key, id) order: rows are inserted, and keys taken, in this order by every inserter,
  // so concurrent batches racing for the same keys cannot deadlock
  const indexes = sortedForInsert(rows);
  const chunks = chunkBySize(indexes, (i) => insertRowSize(rows[i]), MAX_BATCH_ROWS, MAX_BATCH_BYTES);

  for (const chunk of chunks) {
    let todo = chunk;
    for (let round = 0; todo.length > 0; round++) {
      if (round >= 5) {
        throw new StorageError('PostgreSQL storage: insertRuns could not settle idempotency-key races after 5 rounds.');
      }
      const statement = statements.build(todo.map((i) => rows[i]));
      let inserted: Set<string> | undefined;
      if (statement.plain && round === 0 && link.plain) {
        // no idempotency key in the batch: a plain insert, all or nothing (no speculative
        // insertion, nothing returned); a duplicate id (a retried batch) falls back to the
        // insert that skips conflicts
        try {
          await link.plain({ name: statement.plain.name, text: statement.plain.text, values: statement.values });
          inserted = new Set(todo.map((i) => runs[i].id));
        } catch (err) {
          // a duplicate id, or a link that broke under the statement (it may have been applied):
          // the insert that skips conflicts settles which runs exist
          if (!(err instanceof StorageError && (codeOf(err.cause) === '23505' || isConnectionError(err.cause)))) throw err;
        }
      }
      inserted ??= await link.skipConflicts(statement);
      const missing: number[] = [];
      for (const i of todo) {
        // an id given twice in one batch was inserted once: the first is created, the other exists
        if (inserted.delete(runs[i].id)) results[i] = { run: { ...runs[i] }, created: true };
        else missing.push(i);
      }
      if (missing.length === 0) break;
      // Not inserted: a run with that id exists already, or an unfinished run holds the key.
      const existingRows = await link.existing(
        (runColumns) =>
          `select distinct on (q.req) q.req, ${runColumns}
           from unnest($1::int[], $2::text[], $3::text[], $4::text[]) as q(req, id, definition_id, key)
           join ${s}.runs r
             on r.id = q.id
             or (q.key is not null and r.definition_id = q.definition_id and r.key = q.key and r.status in ${UNFINISHED})
           order by q.req, (r.id = q.id) desc`,
        [missing, missing.map((i) => runs[i].id), missing.map((i) => runs[i].definitionId), missing.map((i) => runs[i].key ?? null)],
      );
      const existing = new Map(existingRows.map((r) => [r.req, toRecord(r)]));
      const again: number[] = [];
      for (const i of missing) {
        const found = existing.get(i);
        if (found) results[i] = { run: found, created: false };
        else again.push(i); // the holder finished in between: its key is free, insert again
      }
      todo = again;
    }
  }
  return results as InsertResult[];
}

/** the rows of `runs`, validated first: nothing is sent when a field is refused (a rejection) */
export function insertRowsOf(runs: RunRecord[]): InsertRow[] {
  return runs.map(toInsertRow);
}

/** insert statements of one storage at once (see InsertLanes) */
const MAX_INSERT_LANES = 2;

/**
 * At most MAX_INSERT_LANES insert statements at once; calls made meanwhile are sent together
 * (up to MAX_BATCH_ROWS runs) when a lane frees up: a burst of triggers becomes a few large
 * statements instead of many concurrent ones contending for the same index pages.
 */
export class InsertLanes {
  private queue: Array<{ runs: RunRecord[]; rows: InsertRow[]; resolve: (r: InsertResult[]) => void; reject: (e: unknown) => void }> = [];
  private inFlight = 0;

  constructor(private readonly send: (runs: RunRecord[], rows: InsertRow[]) => Promise<InsertResult[]>) {}

  insert(runs: RunRecord[]): Promise<InsertResult[]> {
    if (runs.length === 0) return Promise.resolve([]);
    let rows: InsertRow[];
    try {
      rows = insertRowsOf(runs);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ runs, rows, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < MAX_INSERT_LANES && this.queue.length > 0) {
      const group = [this.queue.shift()!];
      let n = group[0].runs.length;
      while (this.queue.length > 0 && n + this.queue[0].runs.length <= MAX_BATCH_ROWS) {
        const next = this.queue.shift()!;
        group.push(next);
        n += next.runs.length;
      }
      this.inFlight++;
      const runs = group.length === 1 ? group[0].runs : group.flatMap((g) => g.runs);
      const rows = group.length === 1 ? group[0].rows : group.flatMap((g) => g.rows);
      this.send(runs, rows)
        .then(
          (results) => {
            let at = 0;
            for (const g of group) {
              g.resolve(results.slice(at, at + g.runs.length));
              at += g.runs.length;
            }
          },
          (err: unknown) => {
            for (const g of group) g.reject(err);
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    }
  }
}
