import type { RunRecord } from '../../../ports/run-record';
import type { IterationUpdate, UpdateResult } from '../../../ports/storage';
import { isConnectionError } from '../pg-support';
import { chunkBySize, MAX_BATCH_BYTES, MAX_BATCH_ROWS } from './batches';
import type { ClaimedRows } from './claimed-rows';
import { intMs, isoToMs, jsonText } from './column-values';
import { compareText } from './compare-text';
import { completedRun } from './completed-run';
import type { StorageConnections } from './connections';
import { toRecord, type RunRow } from './run-row';
import { retryBit, undoBits, type SlimUpdateRow, type UpdateStatements, type UpdateValues } from './update-statement';

/**
 * Writes a batch of iteration results, each under its lease (see RunStorage.updateIterations):
 * one statement per chunk for the runs claimed here (answering only what others may have
 * changed: see completedRun), one for the others (answering whole rows).
 */
export async function updateIterations(
  db: StorageConnections,
  statements: UpdateStatements,
  claimed: ClaimedRows,
  getRun: (id: string) => Promise<RunRecord | null>,
  updates: IterationUpdate[],
): Promise<UpdateResult[]> {
  if (updates.length === 0) return [];
  const results = new Array<UpdateResult>(updates.length);
  // id order: rows are locked in the order unnest() yields them (see UpdateStatements), the order
  // every multi-row writer here uses, so two batches touching the same runs cannot deadlock
  const order = updates.map((_, i) => i).sort((a, b) => compareText(updates[a].id, updates[b].id));
  const texts = updates.map((u) => ({ input: jsonText(u.input), output: jsonText(u.output), error: jsonText(u.error), progress: jsonText(u.progress) }));
  const sizes = updates.map((u, i) => {
    const t = texts[i];
    return 64 + u.id.length + (t.input?.length ?? 0) + (t.output?.length ?? 0) + (t.error?.length ?? 0) + (t.progress?.length ?? 0);
  });
  // runs claimed here under the same lease: only what can change under a lease is read back
  const claimRows = updates.map((u) => claimed.get(u.id, u.leaseToken));
  for (const chunk of chunkBySize(order, (i) => sizes[i], MAX_BATCH_ROWS, MAX_BATCH_BYTES)) {
    const known = chunk.filter((i) => claimRows[i] !== undefined);
    const unknown = known.length === chunk.length ? [] : chunk.filter((i) => claimRows[i] === undefined);
    for (const part of [known, unknown]) {
      if (part.length === 0) continue;
      const slim = part === known;
      const n = part.length;
      const req = new Array<number>(n);
      const ids = new Array<string>(n);
      const tokens = new Array<string>(n);
      const columns: UpdateValues = {
        status: new Array<string>(n),
        due_at: new Array<number | null>(n),
        input: new Array<string | null>(n),
        output: new Array<string | null>(n),
        error: new Array<string | null>(n),
        progress: new Array<string | null>(n),
        finished_on: new Array<string | null>(n),
        finished_at: new Array<number | null>(n),
        undo: new Array<number>(n),
        retry: new Array<number>(n),
      };
      for (let k = 0; k < n; k++) {
        const i = part[k];
        const u = updates[i];
        const t = texts[i];
        req[k] = i;
        ids[k] = u.id;
        tokens[k] = u.leaseToken;
        columns.status[k] = u.status;
        columns.due_at[k] = intMs(u.dueAt);
        columns.input[k] = t.input;
        columns.output[k] = t.output;
        columns.error[k] = t.error;
        columns.progress[k] = t.progress;
        columns.finished_on[k] = u.finishedOn ?? null;
        columns.finished_at[k] = isoToMs(u.finishedOn);
        columns.undo[k] = undoBits(u);
        columns.retry[k] = retryBit(u);
      }
      const { name, text, values } = statements.build(slim, req, ids, tokens, columns);
      let ambiguous = false;
      const rows = await db.exec('idempotent', 'updateIterations', async (client) => {
        try {
          return (await client.query<SlimUpdateRow | (RunRow & { req: number })>({ name, text, values })).rows;
        } catch (err) {
          // If this attempt failed on a broken link, it may have been applied: the retry verifies.
          if (isConnectionError(err)) ambiguous = true;
          throw err;
        }
      });
      for (const row of rows) {
        const i = row.req;
        results[i] = { ok: true, run: slim ? completedRun(claimRows[i]!, updates[i], texts[i], row as SlimUpdateRow) : toRecord(row as RunRow) };
      }
      for (const i of part) claimed.forget(updates[i]);
      if (rows.length === n) continue;
      // the rest: not found, or no longer running under that lease (rare: one more statement)
      const missing = part.filter((i) => results[i] === undefined);
      const found = await db.exec('read', 'updateIterations', async (client) => {
        const res = await client.query<{ id: string }>(`select id from ${db.s}.runs where id = any($1::text[])`, [missing.map((i) => updates[i].id)]);
        return new Set(res.rows.map((r) => r.id));
      });
      for (const i of missing) {
        const u = updates[i];
        results[i] = found.has(u.id) ? { ok: false, reason: 'lease_lost' } : { ok: false, reason: 'not_found' };
        if (ambiguous && found.has(u.id)) {
          // a first attempt that went through before the link broke: accept its result
          const current = await getRun(u.id);
          if (
            current &&
            current.status === u.status &&
            current.leaseToken === undefined &&
            (u.finishedOn === undefined || current.finishedOn === u.finishedOn) &&
            (u.dueAt === undefined || current.dueAt === intMs(u.dueAt))
          ) {
            results[i] = { ok: true, run: current };
          }
        }
      }
    }
  }
  return results;
}
