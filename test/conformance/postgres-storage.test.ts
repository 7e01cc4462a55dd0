import { postgresStorage } from '../../src/adapters/postgres';
import { describeWithPostgres, freshPgSchema, PG_URL } from '../helpers/services';
import { describeStorageConformance } from './storage-conformance';

describeWithPostgres('PostgreSQL storage', () => {
  describeStorageConformance('postgres', async () => {
    const { schema, drop } = await freshPgSchema();
    return { storage: postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 }), cleanup: drop };
  });
});
