import { postgresStorage } from '../../src/adapters/postgres';
import { describeWithPostgres, freshPgSchema, PG_URL } from '../helpers/services';
import { describeEngineConformance } from './engine-conformance';

describeWithPostgres('PostgreSQL engine', () => {
  describeEngineConformance('postgres', async () => {
    const { schema, drop } = await freshPgSchema();
    const storage = postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 });
    const others: Array<ReturnType<typeof postgresStorage>> = [];
    const another = () => {
      const other = postgresStorage({ connectionString: PG_URL, schema, poolSize: 4 });
      others.push(other);
      return other;
    };
    return {
      storage,
      another,
      cleanup: async () => {
        await storage.close();
        for (const o of others) await o.close();
        await drop();
      },
    };
  });
});
