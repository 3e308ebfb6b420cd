import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { eventStoreSuite } from '../support/event-store-suite.js';
import { pgliteTestDb } from '../support/postgres.js';

eventStoreSuite('PGlite', async (options) => {
  const t = await pgliteTestDb();
  return { store: new PostgresEventStore(t.db, { ...options, schema: t.schema }), dispose: t.dispose };
});
