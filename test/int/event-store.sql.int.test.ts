import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { appendTransaction } from '../../src/postgres/append-lock.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { readToEnd } from '../support/event-store-suite.js';
import { tableReads } from '../support/plan.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/** Postgres-specific regressions of the SQL event store, run on PGlite and on real Postgres. */
function sqlStoreRegressions(name: string, open: () => Promise<TestDb>): void {
  describe(`Postgres event store SQL regressions: ${name}`, () => {
    let t: TestDb;
    let store: PostgresEventStore;
    beforeAll(async () => {
      t = await open();
      store = new PostgresEventStore(t.db, { schema: t.schema });
    });
    afterAll(() => t.dispose());

    // tx_id must be ordered as a number: as text "100" sorts before "99", and a follower whose cursor
    // is in transaction 100 would then jump past everything of transaction 99.
    it('follows transactions across a digit boundary of tx_id (99 → 100) without skipping', async () => {
      const s = quoteSchema(t.schema);
      const ids: string[] = [];
      for (const [tx, n] of [[99, 3], [100, 3]] as const) {
        for (let i = 0; i < n; i++) {
          const e = createEvent({ type: 'task.created', streamId: `tx-${tx}`, data: {} });
          ids.push(e.id);
          await t.db.query(
            `INSERT INTO ${s}.events (tx_id, event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at)
             VALUES ($1::text::xid8, $2, $3, $4, $5, 'task', '{}', '{}', now())`,
            [String(tx), e.id, e.streamId, i + 1, e.type],
          );
        }
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let page = 0; page < 10; page++) {
        const res = await store.readAll({ ...(cursor === undefined ? {} : { after: cursor }), limit: 2 });
        if (res.events.length === 0) break;
        seen.push(...res.events.map((e) => e.id));
        cursor = res.next;
      }
      expect(seen.filter((id) => ids.includes(id))).toEqual(ids);
    });

    it('appends a batch of several streams in one statement: versions per stream, stored ids skipped', async () => {
      const [a, b] = [`many-a-${crypto.randomUUID()}`, `many-b-${crypto.randomUUID()}`];
      const old = createEvent({ type: 'task.created', streamId: a, data: { n: 0 } });
      await store.append(a, [old, createEvent({ type: 'task.updated', streamId: a, data: { n: 1 } })]);
      const batch = [
        createEvent({ type: 'task.updated', streamId: a, data: { n: 2 } }),
        createEvent({ type: 'task.created', streamId: b, data: { n: 3 } }),
        old, // already stored: skipped, not an error
        createEvent({ type: 'task.updated', streamId: a, data: { n: 4 } }),
        createEvent({ type: 'task.updated', streamId: b, data: { n: 5 } }),
      ];
      await appendTransaction(t.db, store.appendLock, (tx) => store.appendManyValidated(tx, batch));
      expect((await store.readStream(a)).map((e) => [e.version, e.data.n])).toEqual([[1, 0], [2, 1], [3, 2], [4, 4]]);
      expect((await store.readStream(b)).map((e) => [e.version, e.data.n])).toEqual([[1, 3], [2, 5]]);
      expect([await store.streamVersion(a), await store.streamVersion(b)]).toEqual([4, 2]);
      // In the log in the batch's order.
      const stored = await store.query({ streamIds: [a, b], limit: 10 });
      expect(stored.map((e) => e.data.n)).toEqual([0, 1, 2, 3, 4, 5]);
    });

    it('returns duplicate for a retried batch inside a caller transaction without aborting it', async () => {
      const stream = `dup-${crypto.randomUUID()}`;
      const batch = [createEvent({ type: 'task.created', streamId: stream, data: {} })];
      await store.append(stream, batch);
      const after = await t.db.transaction(async (tx) => {
        const res = await store.appendWith(tx, stream, batch);
        expect(res.duplicate).toBe(true);
        const more = await store.appendWith(tx, stream, [createEvent({ type: 'task.completed', streamId: stream, data: {} })]);
        return more.nextVersion;
      });
      expect(after).toBe(2);
      expect((await readToEnd(store)).ids).toContain(batch[0]!.id);
    });

    // The check for ids already stored ran as a hash anti join over a sequential scan of the whole log (the
    // planner estimates 100 rows for jsonb_array_elements): every saga step and every worker's completion
    // read the log end to end until it held some 15,000 events. It must probe the id index instead.
    it("checks a batch's ids against the log by index, not by scanning the log", async () => {
      const s = quoteSchema(t.schema);
      await t.db.query(
        `INSERT INTO ${s}.events (event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at)
         SELECT gen_random_uuid(), 'plan-' || g, 1, 'task.created', 'task', '{}', '{}', now() FROM generate_series(1, 3000) g`,
      );
      await t.db.query(`ANALYZE ${s}.events`);
      const reads = await tableReads(t.db, `WITH ${store.appendManyCtes('$1')} SELECT count(*) FROM e_ins`, ['jsonb'], [`'[]'`]);
      const scans = reads.filter(([table]) => table === 'events').map(([, type]) => type);
      // The log is read (the check is in the plan), and only through an index.
      expect(scans.length).toBeGreaterThan(0);
      expect(scans.filter((type) => !type.startsWith('Index'))).toEqual([]);
    });
  });
}

sqlStoreRegressions('PGlite', pgliteTestDb);
describe.runIf(hasPostgres())('real Postgres', () => sqlStoreRegressions('Postgres', () => pgTestDb()));
