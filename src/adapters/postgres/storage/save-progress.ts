import type { RunProgress } from '../../../api/types';
import { jsonText, storable } from './column-values';
import type { StorageConnections } from './connections';

export async function saveProgress(db: StorageConnections, id: string, progress: RunProgress): Promise<void> {
  if (!storable(id)) return; // no run has such an id
  await db.exec('idempotent', 'saveProgress', (client) => client.query(`update ${db.s}.runs set progress = $2::json where id = $1`, [id, jsonText(progress)]));
}
