import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SagaMigrationService } from '../../src/app/saga-migration.js';
import type { MigrateBatchRequest, MigrationFailure } from '../../src/app/operator-api.js';
import { createEvent } from '../../src/core/events/envelope.js';
import type { Db } from '../../src/core/ports/db.js';
import type { SagaMigrationStore } from '../../src/core/ports/saga-migrations.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { PostgresSagaMigrations } from '../../src/postgres/saga-migrations.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { combineVersions } from '../../src/core/saga/versions.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';
import { OrderSaga } from '../support/test-saga.js';
import { OrderSagaV2 } from '../support/test-saga-v2.js';

/**
 * `sagas migrate` on storage: many v1 instances, bulk-inserted, one whose transform throws. The migration
 * moves every other unfinished v1 instance (one history row each), leaves the failing one as it was, and
 * changes nothing else (finished v1 instances, v2 instances, another saga's); a dry run changes nothing;
 * a move is fenced by the instance's revision against a concurrent step. Postgres: 10,000; PGlite: 300.
 */

const key = (n: number) => `o-${String(n).padStart(5, '0')}`;
const FAILING = key(13);
const ev = (type: string, orderId: string, extra: Record<string, unknown> = {}) => createEvent({ type, streamId: orderId, data: { orderId, ...extra } });

/** Inserts `count` running v1 instances in awaitingPayment (order 13 has amount 13: its transform throws) in one statement. */
async function insertV1(db: Db, schema: string, template: unknown, count: number): Promise<void> {
  await db.query(
    `WITH g AS (
       SELECT 'o-' || lpad(n::text, 5, '0') AS key, CASE WHEN n = 13 THEN 13 ELSE 7 END AS amount FROM generate_series(1, $2::int) n
     ), c AS (SELECT key, jsonb_build_object('orderId', key, 'notes', 0, 'amount', amount) AS context FROM g)
     INSERT INTO ${quoteSchema(schema)}.saga_instances (saga, key, version, definition_version, status, state, context, snapshot, created_at, updated_at)
     SELECT 'Order', key, 1, 1, 'running', '"awaitingPayment"', context, jsonb_set($1::jsonb, '{context}', context), now(), now() FROM c`,
    [JSON.stringify(template), count],
  );
  // What autovacuum does soon after a bulk load: without statistics the planner takes the table for empty.
  await db.query(`ANALYZE ${quoteSchema(schema)}.saga_instances`);
}

/** A fingerprint of instance rows matching `where` (every column). */
async function fingerprint(db: Db, schema: string, where = 'true'): Promise<{ rows: number; md5: string | null }> {
  const { rows } = await db.query<{ rows: string; md5: string | null }>(
    `SELECT count(*) AS rows, md5(string_agg(concat_ws('|', saga, key, version, definition_version, status, state::text, context::text, snapshot::text, updated_at::text), ',' ORDER BY saga, key)) AS md5
     FROM ${quoteSchema(schema)}.saga_instances WHERE ${where}`,
  );
  return { rows: Number(rows[0]!.rows), md5: rows[0]!.md5 };
}

async function historyCount(db: Db, schema: string, kind?: string): Promise<number> {
  const { rows } = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteSchema(schema)}.saga_history WHERE $1::text IS NULL OR kind = $1`, [kind ?? null]);
  return Number(rows[0]!.n);
}

/** Runs every batch of a migration (as the CLI does) and sums them. */
async function migrateAll(service: SagaMigrationService, request: Omit<MigrateBatchRequest, 'after'>) {
  let after: string | undefined;
  let moved = 0;
  let read = 0;
  const failed: MigrationFailure[] = [];
  do {
    const r = await service.migrateBatch({ ...request, ...(after !== undefined ? { after } : {}) });
    moved += r.moved;
    read += r.read;
    failed.push(...r.failed);
    after = r.next;
  } while (after !== undefined);
  return { moved, read, failed };
}

function migrationSuite(name: string, open: () => Promise<TestDb>, count: number) {
  describe(`sagas migrate on ${name} (${count} instances)`, () => {
    let t: TestDb;
    let repository: PostgresSagaRepository;
    let store: PostgresSagaMigrations;
    let service: SagaMigrationService;
    let runtime: SagaRuntime;
    /** Rows the migration must not touch: everything but the bulk-inserted unfinished v1 Order instances (keys o-*). */
    const untouched = `NOT (saga = 'Order' AND key LIKE 'o-%')`;
    const serviceOn = (s: SagaMigrationStore) => new SagaMigrationService({ sagas: combineVersions([OrderSaga, OrderSagaV2]), queries: repository, store: s });

    beforeAll(async () => {
      t = await open();
      repository = new PostgresSagaRepository(t.db, { schema: t.schema });
      store = new PostgresSagaMigrations(t.db, { schema: t.schema });
      service = serviceOn(store);
      runtime = new SagaRuntime({ repository, sagas: [OrderSaga, OrderSagaV2], timers: false });
      // A real v1 snapshot as the template of the bulk-inserted ones.
      const v1 = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
      await v1.handle(ev('order.placed', 'template', { amount: 7 }));
      const template = (await repository.get('Order', 'template'))!;
      await t.db.query(`DELETE FROM ${quoteSchema(t.schema)}.saga_instances WHERE key = 'template'`);
      await insertV1(t.db, t.schema, template.snapshot, count);
      // Not to be moved: finished v1 instances, instances already on v2, and another saga's.
      for (const k of ['done-1', 'done-2']) {
        await v1.handle(ev('order.placed', k));
        await v1.handle(ev('payment.succeeded', k));
      }
      for (const k of ['new-1', 'new-2']) await runtime.handle(ev('order.placed', k));
      await t.db.query(
        `INSERT INTO ${quoteSchema(t.schema)}.saga_instances SELECT 'Other', key, version, definition_version, status, state, context, snapshot, created_at, updated_at
         FROM ${quoteSchema(t.schema)}.saga_instances WHERE saga = 'Order' AND key IN ('o-00001', 'o-00002')`,
      );
    }, 120_000);
    afterAll(async () => {
      await t.dispose();
    });

    it('counts instances per version, loaded versions included', async () => {
      const versions = await service.versions('Order');
      expect(versions.map((v) => [v.version, v.loaded, v.newest, v.migratesFrom, v.instances, v.open])).toEqual([
        [1, true, false, [], count + 2, count],
        [2, true, true, [1], 2, 2],
      ]);
      expect(versions[0]!.byStatus).toEqual({ completed: 2, running: count });
    });

    it('a dry run reports what would move and what would fail, and changes nothing', async () => {
      const before = await fingerprint(t.db, t.schema);
      const history = await historyCount(t.db, t.schema);
      const r = await migrateAll(service, { saga: 'Order', from: 1, to: 2, dryRun: true, batchSize: 1000 });
      expect(r).toMatchObject({ read: count, moved: count - 1 });
      expect(r.failed.map((f) => [f.key, f.error.code])).toEqual([[FAILING, 'SAGA_MIGRATION_FAILED']]);
      expect(await fingerprint(t.db, t.schema)).toEqual(before);
      expect(await historyCount(t.db, t.schema)).toBe(history);
    });

    it('moves every unfinished v1 instance but the one whose transform fails, one history row each, and nothing else changes', async () => {
      const others = await fingerprint(t.db, t.schema, untouched);
      const failing = await repository.get('Order', FAILING);
      const historyBefore = await historyCount(t.db, t.schema);
      const started = performance.now();
      const r = await migrateAll(service, { saga: 'Order', from: 1, to: 2, dryRun: false, batchSize: 1000 });
      const ms = performance.now() - started;
      process.stderr.write(`[saga-migrate] ${name}: moved ${r.moved} instances in ${Math.round(ms)} ms (batches of 1000)\n`);
      expect(r).toMatchObject({ read: count, moved: count - 1 });
      expect(r.failed).toHaveLength(1);
      expect(r.failed[0]!).toMatchObject({ key: FAILING, error: { code: 'SAGA_MIGRATION_FAILED', details: { from: 1, to: 2 } } });
      expect(r.failed[0]!.error.message).toContain('the transform threw: unlucky order');

      // The failing one is exactly as it was; nothing outside the migrated set changed.
      expect(await repository.get('Order', FAILING)).toEqual(failing);
      expect(await fingerprint(t.db, t.schema, untouched)).toEqual(others);
      // Every other one is on v2 in the renamed state, with the new context field, and one history row.
      const moved = await fingerprint(t.db, t.schema, `saga = 'Order' AND definition_version = 2 AND version = 2 AND state = '"waitingForPayment"' AND context->>'currency' = 'EUR' AND key LIKE 'o-%'`);
      expect(moved.rows).toBe(count - 1);
      const { rows } = await t.db.query<{ n: number; keys: number; failing: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT key)::int AS keys, (count(*) FILTER (WHERE key = $1))::int AS failing FROM ${quoteSchema(t.schema)}.saga_history
         WHERE kind = 'migrated' AND event_type = 'sagaflow.migrate' AND from_state = '"awaitingPayment"' AND to_state = '"waitingForPayment"'`,
        [FAILING],
      );
      expect(rows[0]).toEqual({ n: count - 1, keys: count - 1, failing: 0 });
      expect(await historyCount(t.db, t.schema)).toBe(historyBefore + count - 1);
      expect(await service.versions('Order')).toMatchObject([{ version: 1, open: 1 }, { version: 2, open: count + 1 }]);

      // A second run finds only the failing one again.
      const again = await migrateAll(service, { saga: 'Order', from: 1, to: 2, dryRun: false });
      expect(again).toMatchObject({ read: 1, moved: 0 });
    }, 300_000);

    it('a migrated instance steps on the new version', async () => {
      const k = key(42);
      await runtime.handle(ev('order.noted', k));
      expect(await repository.get('Order', k)).toMatchObject({ definitionVersion: 2, state: 'waitingForPayment', context: { notes: 10, currency: 'EUR' } });
      await runtime.handle(ev('payment.succeeded', k));
      expect(await repository.get('Order', k)).toMatchObject({ state: 'paid', status: 'completed' });
      expect((await repository.emitted('Order', k)).find((e) => e.type === 'order.confirmed')!.data).toMatchObject({ version: 2 });
    });

    it('a result the new version refuses (context schema, unknown state) leaves the instance on its version, saying why', async () => {
      const v1 = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
      await v1.handle(ev('order.placed', 'zod-1', { amount: 14 }));
      const r = await migrateAll(service, { saga: 'Order', from: 1, to: 2, dryRun: false });
      const zod = r.failed.find((f) => f.key === 'zod-1')!;
      expect(zod.error.message).toMatch(/context does not fit version 2: context\.currency/);
      expect(zod.error.details.issues).toEqual([expect.objectContaining({ path: 'context.currency' })]);
      expect(await repository.get('Order', 'zod-1')).toMatchObject({ definitionVersion: 1, version: 1 });

      // A target whose mapping names a state version 2 does not have.
      const nowhere = ({ context }: { context: Record<string, unknown> }) => ({ value: 'nowhere', context: { ...context, currency: 'EUR' } });
      const broken = combineVersions([OrderSaga, { ...OrderSagaV2, migrateFrom: { 1: nowhere } } as unknown as typeof OrderSagaV2]);
      const s = new SagaMigrationService({ sagas: broken, queries: repository, store });
      const out = await s.migrateBatch({ saga: 'Order', from: 1, to: 2, dryRun: true, batchSize: 10 });
      expect(out.failed[0]!.error.message).toMatch(/state "nowhere" does not exist in version 2/);
    });

    it('a move is fenced by the revision: a step committed in between is kept and the instance moved after a re-read', async () => {
      const v1 = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
      await v1.handle(ev('order.placed', 'race-1', { amount: 3 }));
      let raced = false;
      const racing: SagaMigrationStore = {
        candidates: (...a) => store.candidates(...a),
        move: async (...a) => {
          if (!raced) {
            raced = true;
            // A concurrent step on v1 commits after the migration read the instance.
            await v1.handle(ev('order.noted', 'race-1'));
          }
          return store.move(...a);
        },
      };
      const r = await serviceOn(racing).migrateBatch({ saga: 'Order', from: 1, to: 2, dryRun: false, after: 'race-0', batchSize: 1 });
      expect(r).toMatchObject({ read: 1, moved: 1, failed: [] });
      // The note (v1 counts 1) survived the move, and the revision counts both writes.
      expect(await repository.get('Order', 'race-1')).toMatchObject({ definitionVersion: 2, version: 3, state: 'waitingForPayment', context: { notes: 1, amount: 3, currency: 'EUR' } });
      const history = await repository.history('Order', 'race-1');
      expect(history.map((h) => h.kind)).toEqual(['applied', 'applied', 'migrated']);
    });

    it('a stale revision moves nothing and writes no history row', async () => {
      const v1 = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
      await v1.handle(ev('order.placed', 'stale-1'));
      const before = await repository.get('Order', 'stale-1');
      const moved = await store.move('Order', 1, 2, [{ key: 'stale-1', expectedVersion: 7, fromState: 'awaitingPayment', status: 'running', state: 'x', context: {}, snapshot: {} }], 'test');
      expect(moved).toEqual([]);
      expect(await repository.get('Order', 'stale-1')).toEqual(before);
      expect((await repository.history('Order', 'stale-1')).map((h) => h.kind)).toEqual(['applied']);
    });

    it('bad requests are typed errors naming what is missing', async () => {
      await expect(service.migrateBatch({ saga: 'Nope', from: 1, to: 2, dryRun: true })).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(service.migrateBatch({ saga: 'Order', from: 1, to: 3, dryRun: true })).rejects.toThrow(/version 3 of Order is not loaded here \(loaded: v1, v2\)/);
      await expect(service.migrateBatch({ saga: 'Order', from: 2, to: 1, dryRun: true })).rejects.toThrow(/declares no migrateFrom\[2\]/);
      await expect(service.migrateBatch({ saga: 'Order', from: 1, to: 2, dryRun: true, batchSize: 0 })).rejects.toMatchObject({ code: 'VALIDATION' });
    });
  });
}

migrationSuite('PGlite', pgliteTestDb, 300);

describe.runIf(hasPostgres())('real Postgres', () => {
  migrationSuite('Postgres', () => pgTestDb(), 10_000);
});
