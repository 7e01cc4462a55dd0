import { exactText } from './column-values';
import type { StorageConnections } from './connections';

/**
 * In one transaction: the cut-off first (its upsert locks the definition's row, as every local
 * write does: see writeLocal), then the locals cleared in a statement whose snapshot is taken
 * after that lock, so it sees every write that held the lock before.
 */
export async function restartDefinition(db: StorageConnections, definitionId: string, cutoff: string): Promise<{ localsCleared: number }> {
  exactText(definitionId, 'definitionId');
  exactText(cutoff, 'cutoff');
  const s = db.s;
  return db.exec('idempotent', 'restartDefinition', (client) =>
    db.transaction(client, async () => {
      await client.query(
        `insert into ${s}.definitions (definition_id, restart_cutoff) values ($1, $2)
         on conflict (definition_id) do update set
           restart_cutoff = greatest(${s}.definitions.restart_cutoff, excluded.restart_cutoff), updated_at = now()`,
        [definitionId, cutoff],
      );
      const res = await client.query(`update ${s}.locals set value = null, version = version + 1 where definition_id = $1 and value is not null`, [
        definitionId,
      ]);
      return { localsCleared: res.rowCount ?? 0 };
    }),
  );
}
