import { describe } from 'vitest';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { sagaRuntimeSuite } from '../support/saga-runtime-suite.js';
import { pgExtraDb, pgliteTestDb, pgTestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

sagaRuntimeSuite('PGlite', async (clock) => {
  const t = await pgliteTestDb();
  return {
    repository: new PostgresSagaRepository(t.db, { schema: t.schema, clock }),
    reopen: () => new PostgresSagaRepository(t.db, { schema: t.schema, clock }),
    dispose: t.dispose,
  };
});

describe.runIf(hasPostgres())('real Postgres', () => {
  sagaRuntimeSuite('Postgres', async (clock) => {
    const t = await pgTestDb();
    const extra = pgExtraDb();
    return {
      repository: new PostgresSagaRepository(t.db, { schema: t.schema, clock }),
      // The "restarted process" uses its own pool.
      reopen: () => new PostgresSagaRepository(extra, { schema: t.schema, clock }),
      dispose: async () => {
        await extra.close();
        await t.dispose();
      },
    };
  });
});
