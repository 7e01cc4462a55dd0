import { inject, injectable } from 'inversify';
import { csvRecord, type CsvBatch, type CsvRecordSink } from '../../plugins/csv-import';
import { UserRepository } from './user-repository';

/**
 * The host's sink for the csv-import plugin: every CSV record becomes a user. Bound to the
 * plugin's `CsvRecordSink` token before the plugins are loaded, so the plugin keeps its hands off.
 */
@injectable()
export class CsvUserSink implements CsvRecordSink {
  constructor(@inject(UserRepository) private readonly users: UserRepository) {}

  async write(batch: CsvBatch): Promise<void> {
    for (const row of batch.rows) {
      const rec = csvRecord(batch.header, row);
      this.users.upsert({ id: `csv-${rec.id}`, name: rec.name, email: rec.email, city: rec.city, source: 'csv' });
    }
    // a database would take a moment
    await new Promise((r) => setTimeout(r, 40));
  }
}
