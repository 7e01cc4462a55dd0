import { isFinished, type RunStatus } from '../../../api/types';
import type { RunRecord } from '../../../ports/run-record';
import type { EndedRuns } from '../../../ports/storage';
import { MAX_BATCH_ROWS } from './batches';
import { storable } from './column-values';
import type { StorageConnections } from './connections';
import { pgTextArray } from './pg-arrays';
import { cols, toRecord, type RunRow } from './run-row';

/** Runs by id: as many as found, each once, in the order asked. */
export async function getRuns(db: StorageConnections, ids: string[]): Promise<RunRecord[]> {
  ids = ids.filter(storable);
  if (ids.length === 0) return [];
  const byId = await db.exec('read', 'getRuns', async (client) => {
    const res = await client.query<RunRow>({
      name: 'tasklane_getn',
      text: `select ${cols()} from ${db.s}.runs where id = any($1::text[])`,
      values: [pgTextArray(ids)],
    });
    return new Map(res.rows.map((r) => [r.id, toRecord(r)]));
  });
  const out: RunRecord[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    const run = byId.get(id);
    if (run && !seen.has(id)) {
      seen.add(id);
      out.push(run);
    }
  }
  return out;
}

/** See RunStorage.getEndedRuns. */
export async function getEndedRuns(db: StorageConnections, asked: string[]): Promise<EndedRuns> {
  const ids = [...new Set(asked.filter(storable))];
  if (ids.length === 0) return { ended: [], missing: [...new Set(asked)] };
  // statuses first, by primary key only (a status predicate beside `id = any(...)` let a generic
  // plan walk the finished-runs index: 3x the server's CPU per run, measured); whole rows then
  // for the ended ones alone, most waited runs running still
  const statuses = await db.exec('read', 'getEndedRuns', async (client) => {
    const res = await client.query<{ id: string; status: RunStatus }>({
      name: 'tasklane_getstatus',
      text: `select id, status from ${db.s}.runs where id = any($1::text[])`,
      values: [pgTextArray(ids)],
    });
    return res.rows;
  });
  const stored = new Set<string>();
  const endedIds: string[] = [];
  for (const { id, status } of statuses) {
    stored.add(id);
    if (isFinished(status)) endedIds.push(id);
  }
  // a run read as ended stays ended; one deleted since (retention) is simply left out
  const ended = endedIds.length > 0 ? await getRuns(db, endedIds) : [];
  return { ended, missing: [...new Set(asked)].filter((id) => !stored.has(id)) };
}

/**
 * Single-run reads issued in the same event-loop tick are answered by one query (the engine
 * reads runs one by one from many places at once: waits, announcements, executions).
 */
export class RunReads {
  private queue: Array<{ id: string; resolve: (run: RunRecord | null) => void; reject: (err: unknown) => void }> = [];
  private flush: NodeJS.Immediate | undefined;

  constructor(private readonly db: StorageConnections) {}

  getRun(id: string): Promise<RunRecord | null> {
    if (!storable(id)) return Promise.resolve(null);
    return new Promise<RunRecord | null>((resolve, reject) => {
      this.queue.push({ id, resolve, reject });
      if (this.queue.length >= MAX_BATCH_ROWS) this.flushNow();
      else this.flush ??= setImmediate(() => this.flushNow());
    });
  }

  /** sends the reads waiting (at close: they finish before the pool goes) */
  flushNow(): void {
    if (this.flush) clearImmediate(this.flush);
    this.flush = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const ids = [...new Set(batch.map((b) => b.id))];
    const s = this.db.s;
    this.db
      .exec('read', 'getRun', async (client) => {
        const res = await client.query<RunRow>(
          ids.length === 1
            ? { name: 'tasklane_get1', text: `select ${cols()} from ${s}.runs where id = $1`, values: [ids[0]] }
            : { name: 'tasklane_getn', text: `select ${cols()} from ${s}.runs where id = any($1::text[])`, values: [pgTextArray(ids)] },
        );
        return new Map(res.rows.map((r) => [r.id, r]));
      })
      .then(
        (rows) => {
          // each caller gets its own copy
          for (const b of batch) {
            const row = rows.get(b.id);
            b.resolve(row ? toRecord(row) : null);
          }
        },
        (err: unknown) => {
          for (const b of batch) b.reject(err);
        },
      );
  }
}
