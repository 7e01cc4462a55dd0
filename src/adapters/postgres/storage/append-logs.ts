import type { RunLog } from '../../../api/types';
import { chunkBySize, MAX_BATCH_BYTES, MAX_BATCH_ROWS } from './batches';
import { freeText, jsonText } from './column-values';
import type { StorageConnections } from './connections';

/**
 * Appends log lines, at most `maxPerRun` per run in all: one statement per chunk (the lines as
 * one JSON parameter), the runs locked in id order while their counts are read and raised.
 * Answers how many lines were kept.
 */
export async function appendLogs(db: StorageConnections, logs: RunLog[], maxPerRun: number): Promise<number> {
  if (logs.length === 0 || !(maxPerRun > 0)) return 0;
  const rows = logs.map((log, i) =>
    JSON.stringify({
      i,
      run_id: log.runId,
      type: log.type,
      message: freeText(log.message),
      data: jsonText(log.data),
      created_on: log.createdOn,
    }),
  );
  const chunks = chunkBySize(
    logs.map((_, i) => i),
    (i) => rows[i].length,
    MAX_BATCH_ROWS,
    MAX_BATCH_BYTES,
  );
  const s = db.s;
  let kept = 0;
  for (const chunk of chunks) {
    const payload = `[${chunk.map((i) => rows[i]).join(',')}]`;
    kept += await db.exec('write', 'appendLogs', async (client) => {
      const res = await client.query<{ kept: number }>(
        `with x as (
           select * from json_to_recordset($1::json) as x(i integer, run_id text, type text, message text, data text, created_on text)
         ),
         numbered as (
           select x.*, row_number() over (partition by x.run_id order by x.i) as rn from x
         ),
         locked as (
           select r.id, r.log_count from ${s}.runs r
           where r.id in (select run_id from x)
           order by r.id
           for update
         ),
         kept as (
           select n.* from numbered n join locked l on l.id = n.run_id where l.log_count + n.rn <= $2
         ),
         ins as (
           insert into ${s}.logs (run_id, type, message, data, created_on)
           select run_id, type, message, data::json, created_on from kept order by i
           returning 1
         ),
         upd as (
           update ${s}.runs r set log_count = r.log_count + k.n
           from (select run_id, count(*)::int as n from kept group by run_id) k
           where r.id = k.run_id
           returning 1
         )
         select (select count(*) from ins)::int as kept, (select count(*) from upd)::int as runs`,
        [payload, Math.floor(maxPerRun)],
      );
      return res.rows[0]?.kept ?? 0;
    });
  }
  return kept;
}
