import type { StorageConnections } from './connections';

/** Pending runs per definition id. */
export function countPending(db: StorageConnections): Promise<Map<string, number>> {
  return db.exec('read', 'countPending', async (client) => {
    const res = await client.query<{ definition_id: string; n: number }>(
      `select definition_id, count(*)::int as n from ${db.s}.runs where status = 'pending' group by definition_id`,
    );
    return new Map(res.rows.map((r) => [r.definition_id, r.n]));
  });
}
