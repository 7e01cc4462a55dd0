import { exactText } from './column-values';
import type { StorageConnections } from './connections';

export function getDisabledDefinitions(db: StorageConnections): Promise<Set<string>> {
  return db.exec('read', 'getDisabledDefinitions', async (client) => {
    const res = await client.query<{ definition_id: string }>(`select definition_id from ${db.s}.definitions where disabled`);
    return new Set(res.rows.map((r) => r.definition_id));
  });
}

export async function setDefinitionDisabled(db: StorageConnections, definitionId: string, disabled: boolean): Promise<void> {
  exactText(definitionId, 'definitionId');
  await db.exec('idempotent', 'setDefinitionDisabled', (client) =>
    client.query(
      `insert into ${db.s}.definitions (definition_id, disabled, updated_at) values ($1, $2, now())
       on conflict (definition_id) do update set disabled = excluded.disabled, updated_at = now()`,
      [definitionId, disabled],
    ),
  );
}
