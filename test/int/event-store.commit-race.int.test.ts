import { describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { appendTransaction } from '../../src/postgres/append-lock.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { pgTestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/** How long the appenders commit while the followers read. */
const BUDGET_MS = 4000;

/**
 * A follower reading while appenders commit must not take a committing appender for a transaction that
 * does not append: in `pg_locks` a committing backend's xid lock and its append lock can show different
 * virtual transaction ids (the view reads it from the backend while it is being cleared), so the reader
 * pairs the two locks by backend. Paired by virtual transaction id, followers here passed a batch whose
 * commit was not yet visible to them: its events were never read (seen in the flow bench as commands no
 * worker got). Many short transactions of a few events, several followers reading without pause.
 */
describe.runIf(hasPostgres())('gap-free reader during a storm of commits (Postgres)', () => {
  it('followers reading while appenders commit read every committed event', { timeout: 60_000 }, async () => {
    const t = await pgTestDb({ max: 20 });
    try {
      const store = new PostgresEventStore(t.db, { schema: t.schema });
      const committed = new Set<string>();
      let appending = true;
      const appenders: Array<Promise<void>> = Array.from({ length: 10 }, async (_, i) => {
        for (let n = 0; appending; n++) {
          const stream = `race-${i}-${n}`;
          const events = [0, 1, 2].map(() => createEvent({ type: 'task.created', streamId: stream, data: {} }));
          await appendTransaction(t.db, store.appendLock, (tx) => store.appendWith(tx, stream, events));
          for (const e of events) committed.add(e.id);
        }
      });
      const followers = Array.from({ length: 4 }, async () => {
        const seen = new Set<string>();
        let after: string | undefined;
        const read = async () => {
          const page = await store.readAll({ ...(after === undefined ? {} : { after }), limit: 500 });
          for (const e of page.events) seen.add(e.id);
          after = page.next;
          return page.events.length;
        };
        while (appending) await read();
        await Promise.all(appenders);
        while ((await read()) > 0); // what committed last
        return seen;
      });
      await new Promise((r) => setTimeout(r, BUDGET_MS));
      appending = false;
      await Promise.all(appenders);
      const seenBy = await Promise.all(followers);
      expect(committed.size).toBeGreaterThan(3000); // the storm happened
      for (const seen of seenBy) expect([...committed].filter((id) => !seen.has(id))).toEqual([]);
    } finally {
      await t.dispose();
    }
  });
});
