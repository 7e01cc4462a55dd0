import { exactText, jsonText, storable } from './column-values';
import type { StorageConnections } from './connections';

/** A run's stored value (`store` of the task controller), or undefined. */
export function getValue(db: StorageConnections, runId: string, key: string): Promise<unknown | undefined> {
  if (!storable(runId) || !storable(key)) return Promise.resolve(undefined);
  return db.exec('read', 'getValue', async (client) => {
    const res = await client.query<{ value: string }>(`select value from ${db.s}.run_values where run_id = $1 and key = $2`, [runId, key]);
    return res.rows[0] ? JSON.parse(res.rows[0].value) : undefined;
  });
}

/** Sets a run's stored value; `undefined` deletes it. */
export async function setValue(db: StorageConnections, runId: string, key: string, value: unknown): Promise<void> {
  exactText(runId, 'runId');
  exactText(key, 'key');
  const text = jsonText(value);
  await db.exec('idempotent', 'setValue', (client) =>
    text === null
      ? client.query(`delete from ${db.s}.run_values where run_id = $1 and key = $2`, [runId, key])
      : client.query(
          `insert into ${db.s}.run_values (run_id, key, value) values ($1, $2, $3::json)
           on conflict (run_id, key) do update set value = excluded.value`,
          [runId, key, text],
        ),
  );
}
