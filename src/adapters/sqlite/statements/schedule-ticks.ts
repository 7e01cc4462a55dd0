import type Database from 'better-sqlite3';

/** The ticks of schedules already fired: insert-if-absent on (schedule, tick). */
export interface ScheduleTicks {
  /** true if this call recorded the tick (it was not recorded before) */
  record(scheduleId: string, tick: string, recordedOn: string): boolean;
  last(scheduleId: string): string | null;
}

export function prepareScheduleTicks(db: Database.Database): ScheduleTicks {
  const recordTick = db.prepare<[string, string, string]>(
    'INSERT INTO tasklane_schedule_ticks (schedule_id, tick, recorded_on) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  );
  // max() over the primary key (schedule_id, tick): one index seek
  const lastTick = db.prepare<[string], string | null>('SELECT max(tick) FROM tasklane_schedule_ticks WHERE schedule_id = ?').pluck();
  return {
    record: (scheduleId, tick, recordedOn) => recordTick.run(scheduleId, tick, recordedOn).changes === 1,
    last: (scheduleId) => lastTick.get(scheduleId) ?? null,
  };
}
