import { describe } from 'vitest';
import { PostgresDeadLetters } from '../../src/postgres/dead-letters.js';
import { deadLettersSuite } from '../support/dead-letters-suite.js';
import { pgliteTestDb, pgTestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

deadLettersSuite('PGlite', async () => {
  const t = await pgliteTestDb();
  return { letters: new PostgresDeadLetters(t.db, { schema: t.schema }), dispose: t.dispose };
});

describe.runIf(hasPostgres())('real Postgres', () => {
  deadLettersSuite('Postgres', async () => {
    const t = await pgTestDb();
    return { letters: new PostgresDeadLetters(t.db, { schema: t.schema }), dispose: t.dispose };
  });
});
