import type { StorageConnections } from './connections';

/** Records a schedule's tick if no node did: true for the one that recorded it. */
export function recordScheduleTick(db: StorageConnections, scheduleId: string, tick: string): Promise<boolean> {
  return db.exec('write', 'recordScheduleTick', async (client) => {
    const res = await client.query(`insert into ${db.s}.schedule_ticks (schedule_id, tick) values ($1, $2) on conflict do nothing`, [scheduleId, tick]);
    return res.rowCount === 1;
  });
}

export function lastScheduleTick(db: StorageConnections, scheduleId: string): Promise<string | null> {
  return db.exec('read', 'lastScheduleTick', async (client) => {
    // max() over the primary key (schedule_id, tick): one index probe
    const res = await client.query<{ tick: string | null }>(`select max(tick) as tick from ${db.s}.schedule_ticks where schedule_id = $1`, [scheduleId]);
    return res.rows[0]?.tick ?? null;
  });
}
