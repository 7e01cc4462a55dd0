import { postgresStorage } from '../../src/adapters/postgres';
import { describeWithPostgres, freshPgSchema, PG_URL } from '../helpers/services';
import { describeEngineConformance } from './engine-conformance';

describeWithPostgres('PostgreSQL engine', () => {
  describeEngineConformance('postgres', async () => {
    const { schema, drop } = await freshPgSchema();
    const storage = postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 });
    return { storage, cleanup: async () => { await storage.close(); await drop(); } };
  });
});
