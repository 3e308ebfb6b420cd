import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { ConcurrencyError } from '../../src/core/errors.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import type { PgDb } from '../../src/postgres/pg-db.js';
import { eventStoreSuite, readToEnd } from '../support/event-store-suite.js';
import { pgExtraDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

const ev = (streamId: string) => createEvent({ type: 'task.created', streamId, data: {} });

describe.runIf(hasPostgres())('Postgres event store', () => {
  eventStoreSuite('Postgres', async (options) => {
    const t = await pgTestDb();
    return { store: new PostgresEventStore(t.db, { ...options, schema: t.schema }), dispose: t.dispose };
  });

  describe('across pools', () => {
    let t: TestDb;
    let other: PgDb;
    let store: PostgresEventStore;
    let otherStore: PostgresEventStore;

    beforeAll(async () => {
      t = await pgTestDb();
      other = pgExtraDb();
      store = new PostgresEventStore(t.db, { schema: t.schema });
      otherStore = new PostgresEventStore(other, { schema: t.schema });
    });
    afterAll(async () => {
      await other.close();
      await t.dispose();
    });

    it('lets exactly one of N appenders on two pools win the same expected version', async () => {
      const s = `race-${crypto.randomUUID()}`;
      const attempts = Array.from({ length: 16 }, (_, i) => (i % 2 ? store : otherStore).append(s, [ev(s)], { expectedVersion: 'no-stream' }));
      const results = await Promise.allSettled(attempts);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(ConcurrencyError);
      const { rows } = await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${quoteSchema(t.schema)}.events WHERE stream_id = $1`, [s]);
      expect(Number(rows[0]!.n)).toBe(1);
    });

    /**
     * The gap test. One appender takes a low position and holds its transaction open while later
     * appenders commit higher positions. A follower must wait for it, not pass it. The naive reader
     * (`position > checkpoint`, the control) passes it and never sees it: the test proves it bites.
     */
    it('never lets a readAll follower skip an event that commits after a higher-positioned one', async () => {
      const { next: start } = await readToEnd(store);
      const { rows: maxRows } = await t.db.query<{ p: string | null }>(`SELECT max(position) AS p FROM ${quoteSchema(t.schema)}.events`);
      let naiveCheckpoint = Number(maxRows[0]!.p ?? 0);
      const naiveSeen: string[] = [];
      const naiveRead = async () => {
        const { rows } = await t.db.query<{ event_id: string; position: string }>(
          `SELECT event_id, position FROM ${quoteSchema(t.schema)}.events WHERE position > $1 ORDER BY position`,
          [naiveCheckpoint],
        );
        for (const r of rows) {
          naiveSeen.push(r.event_id);
          naiveCheckpoint = Number(r.position);
        }
      };

      const slowStream = `slow-${crypto.randomUUID()}`;
      const slowEvent = ev(slowStream);
      let release!: () => void;
      const released = new Promise<void>((r) => (release = r));
      let appended!: () => void;
      const slowAppended = new Promise<void>((r) => (appended = r));
      const slow = other.transaction(async (tx) => {
        await otherStore.appendWith(tx, slowStream, [slowEvent]);
        appended();
        await released; // hold the transaction (and its low position) open
      });
      await slowAppended;

      const fastIds: string[] = [];
      for (let i = 0; i < 5; i++) {
        const s = `fast-${crypto.randomUUID()}`;
        const e = ev(s);
        fastIds.push(e.id);
        await store.append(s, [e]);
      }

      // While the slow transaction is open the follower may not pass it: it sees none of the later commits.
      const during = await readToEnd(store, start);
      expect(during.ids).toEqual([]);
      await naiveRead(); // the control reads the later commits and moves its checkpoint past the slow position
      expect(naiveSeen).toEqual(fastIds);

      release();
      await slow;
      const after = await readToEnd(store, during.next);
      expect(after.ids).toEqual([slowEvent.id, ...fastIds]);
      await naiveRead();
      const skippedByNaive = naiveSeen.includes(slowEvent.id) ? 0 : 1;
      expect(skippedByNaive).toBe(1); // the negative control: the naive reader lost the late commit
    });
  });
});
