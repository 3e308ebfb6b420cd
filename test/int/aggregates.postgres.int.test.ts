import { describe } from 'vitest';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { aggregateRepositorySuite } from '../support/aggregate-repository-suite.js';
import { pgTestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

describe.runIf(hasPostgres())('Postgres', () => {
  aggregateRepositorySuite('Postgres', async () => {
    const t = await pgTestDb();
    return { store: new PostgresEventStore(t.db, { schema: t.schema }), dispose: t.dispose };
  });
});
