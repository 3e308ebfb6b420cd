import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { tableReads } from '../support/plan.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/**
 * The read of a batch of saga steps looks up each step's instance and inbox row. As a join and an EXISTS,
 * the planner (100 rows estimated for jsonb_to_recordset) hashed a scan of the whole saga_instances and
 * saga_inbox tables for every batch, a cost that grew with every instance ever run. It must probe their keys.
 */
function sagaPlans(name: string, open: () => Promise<TestDb>): void {
  describe(`saga statement plans: ${name}`, () => {
    let t: TestDb;
    beforeAll(async () => (t = await open()));
    afterAll(() => t.dispose());

    it("a batch's read probes the instances and the inbox by key, with thousands of rows in them", async () => {
      const s = quoteSchema(t.schema);
      await t.db.query(
        `INSERT INTO ${s}.saga_instances (saga, key, version, definition_version, status, state, context, snapshot, created_at, updated_at)
         SELECT 'Plan', 'k-' || g, 1, 1, 'running', '"a"', '{}', '{}', now(), now() FROM generate_series(1, 3000) g`,
      );
      await t.db.query(`INSERT INTO ${s}.saga_inbox (saga, key, event_id) SELECT 'Plan', 'k-' || g, gen_random_uuid()::text FROM generate_series(1, 3000) g`);
      await t.db.query(`ANALYZE ${s}.saga_instances`);
      await t.db.query(`ANALYZE ${s}.saga_inbox`);
      // The statement the repository prepares for a batch's reads (private: read here to explain its plan).
      const sql = (new PostgresSagaRepository(t.db, { schema: t.schema }) as unknown as { preloadSql: string }).preloadSql;
      const reads = await tableReads(t.db, sql, ['jsonb', 'jsonb'], [`'[]'`, `'[]'`]);
      const sagaTables = reads.filter(([table]) => table === 'saga_instances' || table === 'saga_inbox');
      expect(new Set(sagaTables.map(([table]) => table))).toEqual(new Set(['saga_instances', 'saga_inbox']));
      expect(sagaTables.filter(([, type]) => !type.startsWith('Index'))).toEqual([]);
    });
  });
}

sagaPlans('PGlite', pgliteTestDb);
describe.runIf(hasPostgres())('real Postgres', () => sagaPlans('Postgres', () => pgTestDb()));
