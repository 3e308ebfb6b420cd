import { afterAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import type { Db } from '../../src/core/ports/db.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { PostgresTableStatistics } from '../../src/postgres/table-statistics.js';
import { pgExtraDb, pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';
import { waitFor } from '../support/wait-for.js';

/** Whether an autovacuum launcher runs on the server (then it keeps the statistics, and the refresh does not). */
const autovacuumRuns = async (db: Db) =>
  (await db.query<{ runs: boolean }>(`SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher') AS runs`)).rows[0]!.runs;
const eventsTuples = async (db: Db, schema: string) =>
  Number((await db.query<{ n: string }>(`SELECT c.reltuples::text AS n FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'events'`, [schema])).rows[0]!.n);

/** Appends 600 events of ~300 bytes (well over 8 pages of the events table). */
async function fill(db: Db, schema: string): Promise<void> {
  const store = new PostgresEventStore(db, { schema });
  for (let b = 0; b < 6; b++) {
    const s = `fill-${b}`;
    await store.append(s, Array.from({ length: 100 }, (_, i) => createEvent({ type: 'fill.added', streamId: s, data: { i, text: 'x'.repeat(200) } })));
  }
}

function statisticsSuite(open: () => Promise<TestDb>) {
  let t: TestDb;
  afterAll(() => t?.dispose());

  it('analyzes the tables that grew since their statistics, once, unless an autovacuum launcher runs', async () => {
    t = await open();
    const statistics = new PostgresTableStatistics(t.db, { schema: t.schema });
    await fill(t.db, t.schema);
    const analyzed = await statistics.refresh();
    if (await autovacuumRuns(t.db)) {
      expect(analyzed).toEqual([]);
      return;
    }
    expect(analyzed).toContain('events');
    expect(await eventsTuples(t.db, t.schema)).toBeGreaterThanOrEqual(500);
    expect(await statistics.refresh()).not.toContain('events'); // current now
  });
}

describe('table statistics on PGlite (no autovacuum)', () => statisticsSuite(pgliteTestDb));
describe.runIf(hasPostgres())('table statistics on Postgres', () => statisticsSuite(() => pgTestDb()));

describe.runIf(hasPostgres())('the daemon keeps its tables\' statistics (Postgres)', () => {
  it('a daemon whose events table grew has it analyzed within seconds, where no autovacuum runs', async () => {
    const d = await openTestDaemon('postgres', { name: 'statistics', sagas: [OrderSaga] });
    const probe = pgExtraDb(1);
    try {
      for (let i = 0; i < 600; i++) await d.daemon.engine.operator.publish({ type: 'order.placed', data: { orderId: `o-${i}` }, streamId: `o-${i}` });
      if (await autovacuumRuns(probe)) return; // the server's autovacuum analyzes it, in its own time
      await waitFor('the events table analyzed', async () => (await eventsTuples(probe, d.schema)) > 0, 15_000);
    } finally {
      await probe.close();
      await d.dispose();
    }
  });
});
