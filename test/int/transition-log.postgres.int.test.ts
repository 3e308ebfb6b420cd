import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Queryable } from '../../src/core/ports/db.js';
import { appendLockFor, appendTransaction } from '../../src/postgres/append-lock.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { PostgresTransitionLog } from '../../src/postgres/transition-log.js';
import { pgTestDb, pgliteTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/** Writes one history row the way a saga step does (inside a transaction begun with the append lock). */
const insertHistory = (q: Queryable, schema: string, key: string) =>
  q.query(
    `INSERT INTO ${quoteSchema(schema)}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, at)
     VALUES ('Order', $1, $2, 'order.placed', null, '"idle"', '{"emitted":[],"timersScheduled":[],"timersCancelled":[]}', 'applied', now())`,
    [key, `e-${key}`],
  );

describe.runIf(hasPostgres())('PostgresTransitionLog on Postgres', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await pgTestDb();
  });
  afterAll(async () => t?.dispose());

  it('starts at the head, and never skips a step that commits after a later one (gap-free, like the event log)', async () => {
    const lock = appendLockFor(t.schema);
    const log = new PostgresTransitionLog(t.db, { schema: t.schema, appendLock: lock });
    await appendTransaction(t.db, lock, (tx) => insertHistory(tx, t.schema, 'before-head'));
    let cursor = await log.head();
    expect((await log.readAfter(cursor, 100)).transitions).toEqual([]);

    // A step takes its seq and xid first, and stays open; a second step commits meanwhile.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let inserted!: () => void;
    const wrote = new Promise<void>((r) => (inserted = r));
    const slow = appendTransaction(t.db, lock, async (tx) => {
      await insertHistory(tx, t.schema, 'slow');
      inserted();
      await held;
    });
    await wrote;
    await appendTransaction(t.db, lock, (tx) => insertHistory(tx, t.schema, 'fast'));
    // The fast step's row has the higher seq and is committed, but the slow one might still commit before it in
    // (tx_id, seq) order: nothing is read past the open step.
    const early = await log.readAfter(cursor, 100);
    expect(early.transitions.map((h) => h.key)).toEqual([]);
    release();
    await slow;
    const page = await log.readAfter(early.next, 100);
    expect(page.transitions.map((h) => h.key)).toEqual(['slow', 'fast']);
    expect(page.transitions[0]).toMatchObject({ saga: 'Order', eventId: 'e-slow', eventType: 'order.placed', toState: 'idle', kind: 'applied' });
    cursor = page.next;
    expect((await log.readAfter(cursor, 100)).transitions).toEqual([]);
    // The control: a reader of `seq > last seen` after the fast row alone would have passed the slow one.
    const seqs = page.transitions.map((h) => h.seq);
    expect(seqs[0]).toBeLessThan(seqs[1]!);
  });
});

describe('PostgresTransitionLog on PGlite', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await pgliteTestDb();
  }, 120_000);
  afterAll(async () => t?.dispose());

  it('reads what committed after the head, in order', async () => {
    const lock = appendLockFor(t.schema);
    const log = new PostgresTransitionLog(t.db, { schema: t.schema, appendLock: lock });
    await appendTransaction(t.db, lock, (tx) => insertHistory(tx, t.schema, 'old'));
    const head = await log.head();
    await appendTransaction(t.db, lock, (tx) => insertHistory(tx, t.schema, 'a'));
    await appendTransaction(t.db, lock, (tx) => insertHistory(tx, t.schema, 'b'));
    const page = await log.readAfter(head, 1);
    expect(page.transitions.map((h) => h.key)).toEqual(['a']);
    expect((await log.readAfter(page.next, 10)).transitions.map((h) => h.key)).toEqual(['b']);
  });
});
