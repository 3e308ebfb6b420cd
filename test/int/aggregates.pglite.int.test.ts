import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { aggregateRepositorySuite } from '../support/aggregate-repository-suite.js';
import { pgliteTestDb } from '../support/postgres.js';

aggregateRepositorySuite('PGlite', async () => {
  const t = await pgliteTestDb();
  return { store: new PostgresEventStore(t.db, { schema: t.schema }), dispose: t.dispose };
});
