import { PgDb } from '../../src/postgres/pg-db.js';
import { PgliteDb } from '../../src/postgres/pglite-db.js';
import { migrate } from '../../src/postgres/migrate.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import type { Db } from '../../src/core/ports/db.js';
import { databaseUrl, uniqueSchema } from './services.js';

/** A migrated database in a fresh schema, and how to throw it away. */
export interface TestDb {
  db: Db;
  schema: string;
  dispose(): Promise<void>;
}

/** Real Postgres: a fresh schema per call, dropped by `dispose`. */
export async function pgTestDb(options: { max?: number } = {}): Promise<TestDb> {
  if (!databaseUrl) throw new Error('SAGAFLOW_TEST_DATABASE_URL is not set');
  const schema = uniqueSchema();
  const db = new PgDb({ connectionString: databaseUrl, max: options.max ?? 10, applicationName: 'sagaflow-test' });
  await migrate(db, { schema });
  return {
    db,
    schema,
    async dispose() {
      await db.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
      await db.close();
    },
  };
}

/** Another pool onto the same database (a second "process"). */
export function pgExtraDb(max = 5): PgDb {
  if (!databaseUrl) throw new Error('SAGAFLOW_TEST_DATABASE_URL is not set');
  return new PgDb({ connectionString: databaseUrl, max, applicationName: 'sagaflow-test' });
}

/** In-memory PGlite, migrated. */
export async function pgliteTestDb(): Promise<TestDb> {
  const db = await PgliteDb.open();
  const schema = 'sagaflow';
  await migrate(db, { schema });
  return { db, schema, dispose: () => db.close() };
}
