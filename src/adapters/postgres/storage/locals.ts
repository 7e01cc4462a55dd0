import type { LocalEntry, LocalWrite, LocalWriteResult } from '../../../ports/storage';
import { exactText, jsonText, parseJson, storable } from './column-values';
import type { StorageConnections } from './connections';

/** A task local (per definition and key) with its version; 0 when never written. */
export function readLocal(db: StorageConnections, definitionId: string, key: string): Promise<LocalEntry> {
  if (!storable(definitionId) || !storable(key)) return Promise.resolve({ value: undefined, version: 0 });
  return db.exec('read', 'readLocal', async (client) => {
    const res = await client.query<{ value: string | null; version: number }>(
      `select value, version from ${db.s}.locals where definition_id = $1 and key = $2`,
      [definitionId, key],
    );
    const row = res.rows[0];
    return row ? { value: parseJson(row.value), version: row.version } : { value: undefined, version: 0 };
  });
}

/**
 * One statement. Its first step upserts the definition's row, which locks it and reads its
 * restart cut-off as last committed (ON CONFLICT DO UPDATE works on the latest row version, not
 * the statement's snapshot): a restart holding that row (restartDefinition) is waited for, and
 * its cut-off is then seen; a restart coming after waits for this write to commit, then clears
 * what it wrote. The locals of one definition are thus written one at a time (short statements).
 * The compare-and-set itself is the version condition, re-checked by PostgreSQL on the row's
 * latest version when another writer changed it meanwhile.
 */
export async function writeLocal(db: StorageConnections, write: LocalWrite): Promise<LocalWriteResult> {
  exactText(write.definitionId, 'definitionId');
  exactText(write.key, 'key');
  if (write.writerRunId !== undefined) exactText(write.writerRunId, 'writerRunId');
  const text = jsonText(write.value);
  const expected = write.expectedVersion;
  const s = db.s;
  // the write proper, on the rows of `ok` (one row when the writer is not refused)
  const step =
    expected === undefined
      ? `insert into ${s}.locals (definition_id, key, value, version) select $1, $2, $3::json, 1 from ok
         on conflict (definition_id, key) do update set value = excluded.value, version = locals.version + 1
         returning version`
      : expected === 0
        ? `insert into ${s}.locals (definition_id, key, value, version) select $1, $2, $3::json, 1 from ok
           on conflict (definition_id, key) do nothing
           returning version`
        : `update ${s}.locals set value = $3::json, version = version + 1
           where definition_id = $1 and key = $2 and version = $5 and exists (select 1 from ok)
           returning version`;
  const row = await db.exec('write', 'writeLocal', async (client) => {
    const res = await client.query<{ allowed: number; version: number | null }>(
      `with d as (
         insert into ${s}.definitions (definition_id) values ($1)
         on conflict (definition_id) do update set definition_id = excluded.definition_id
         returning restart_cutoff
       ),
       ok as (select 1 as one from d where $4::text is null or d.restart_cutoff is null or $4::text collate "C" >= d.restart_cutoff),
       w as (${step})
       select (select count(*) from ok)::int as allowed, (select version from w) as version`,
      // $5 only where the statement has it (a value without its parameter is refused)
      expected === undefined || expected === 0
        ? [write.definitionId, write.key, text, write.writerRunId ?? null]
        : [write.definitionId, write.key, text, write.writerRunId ?? null, expected],
    );
    return res.rows[0];
  });
  if (row.allowed === 0) return { ok: false, reason: 'restarted' };
  if (row.version === null) return { ok: false, reason: 'conflict' };
  return { ok: true, version: row.version };
}

/** A definition's locals that hold a value, by key. */
export function listLocals(db: StorageConnections, definitionId: string): Promise<Map<string, unknown>> {
  if (!storable(definitionId)) return Promise.resolve(new Map());
  return db.exec('read', 'listLocals', async (client) => {
    const res = await client.query<{ key: string; value: string }>(
      `select key, value from ${db.s}.locals where definition_id = $1 and value is not null order by key`,
      [definitionId],
    );
    return new Map(res.rows.map((r) => [r.key, JSON.parse(r.value) as unknown]));
  });
}
