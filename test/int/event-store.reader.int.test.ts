import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { AppendLockOrderError, readPageSql } from '../../src/postgres/append-lock.js';
import { eventColumns, PostgresEventStore } from '../../src/postgres/event-store.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { readToEnd } from '../support/event-store-suite.js';
import { pgTestDb, type TestDb } from '../support/postgres.js';
import { databaseUrl, hasPostgres } from '../support/services.js';

const ev = (streamId: string) => createEvent({ type: 'task.created', streamId, data: {} });

/** A client on another database of the same server (created once; the tests leave it empty). */
async function otherDatabaseClient(): Promise<pg.Client> {
  const url = new URL(databaseUrl!);
  const admin = new pg.Client({ connectionString: url.toString() });
  await admin.connect();
  const name = 'sagaflow_reader_other';
  const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
  if (exists.rowCount === 0) await admin.query(`CREATE DATABASE ${name}`).catch(() => undefined); // a parallel run may win the race
  await admin.end();
  url.pathname = `/${name}`;
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  return client;
}

/**
 * The reader waits only for transactions that append to this store (ADR 0006): a write transaction
 * left open anywhere else on the server must not hold it back. The classic `pg_snapshot_xmin` reader
 * is the control: in the same situation it sees nothing, so the test bites.
 */
describe.runIf(hasPostgres())('gap-free reader and foreign transactions (Postgres)', () => {
  let t: TestDb;
  let store: PostgresEventStore;
  beforeAll(async () => {
    t = await pgTestDb();
    store = new PostgresEventStore(t.db, { schema: t.schema });
  });
  afterAll(() => t.dispose());

  /** Ids the classic reader (below the server-wide xmin) returns past the end of the log before `since`. */
  const classicRead = async (sinceTx: string) => {
    const { rows } = await t.db.query<{ event_id: string }>(
      `SELECT event_id FROM ${quoteSchema(t.schema)}.events WHERE tx_id > $1::xid8 AND tx_id < pg_snapshot_xmin(pg_current_snapshot())`,
      [sinceTx],
    );
    return rows.map((r) => r.event_id);
  };
  const currentTx = async () => (await t.db.query<{ x: string }>('SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS x')).rows[0]!.x;

  /** Holds `hold` open (a write), appends one event, and measures how long until a follower reads it. */
  async function followWhileOpen(hold: { begin(): Promise<void>; end(): Promise<void> }) {
    const { next: start } = await readToEnd(store);
    const since = await currentTx();
    await hold.begin();
    try {
      const s = `follow-${crypto.randomUUID()}`;
      const e = ev(s);
      await store.append(s, [e]);
      const committedAt = performance.now();
      let seenAfterMs: number | undefined;
      while (performance.now() - committedAt < 2000) {
        const { ids } = await readToEnd(store, start);
        if (ids.includes(e.id)) {
          seenAfterMs = performance.now() - committedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      const classic = await classicRead(since);
      return { seenAfterMs, classicSawIt: classic.includes(e.id) };
    } finally {
      await hold.end();
    }
  }

  it('sees a new event within 100 ms while a write transaction is open in another database', async () => {
    const other = await otherDatabaseClient();
    try {
      const result = await followWhileOpen({
        begin: async () => {
          await other.query('CREATE TABLE IF NOT EXISTS scratch (x int)');
          await other.query('BEGIN');
          await other.query('INSERT INTO scratch VALUES (1)');
        },
        end: async () => void (await other.query('ROLLBACK')),
      });
      expect(result.seenAfterMs).toBeDefined();
      expect(result.seenAfterMs!).toBeLessThan(100);
      expect(result.classicSawIt).toBe(false); // the control: the server-wide horizon stalls on the foreign transaction
    } finally {
      await other.end();
    }
  });

  it('sees a new event within 100 ms while a write transaction on an unrelated table of the same database is open', async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    const table = `${quoteSchema(t.schema)}.unrelated`;
    try {
      await client.query(`CREATE TABLE ${table} (x int)`);
      const result = await followWhileOpen({
        begin: async () => {
          await client.query('BEGIN');
          await client.query(`INSERT INTO ${table} VALUES (1)`);
        },
        end: async () => void (await client.query('ROLLBACK')),
      });
      expect(result.seenAfterMs).toBeDefined();
      expect(result.seenAfterMs!).toBeLessThan(100);
      expect(result.classicSawIt).toBe(false);
    } finally {
      await client.end();
    }
  });

  it('refuses to append in a transaction that wrote before taking the append lock, and writes nothing', async () => {
    const s = `order-${crypto.randomUUID()}`;
    const table = `${quoteSchema(t.schema)}.before_append`;
    await t.db.query(`CREATE TABLE IF NOT EXISTS ${table} (x int)`);
    const err = await t.db
      .transaction(async (tx) => {
        await tx.query(`INSERT INTO ${table} VALUES (1)`); // takes an xid before the lock
        await store.appendWith(tx, s, [ev(s)]);
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppendLockOrderError);
    expect(err).toMatchObject({ code: 'APPEND_LOCK_ORDER' });
    expect(await store.streamVersion(s)).toBe(0);
  });

  /**
   * The one-statement read takes its snapshot S before it reads the lock table. Run inside a REPEATABLE READ
   * transaction, S is fixed while the lock table moves on, which stretches that window at will: an appender
   * open at S that ends before the statement must still hold the page below its events (invisible in S), and
   * the statement must say to read again. Without the "ended since S" rule the page would pass the appender
   * and return a later event: the gap this test would catch.
   */
  it('one-statement read: an appender open at its snapshot that ended before its lock scan still bounds the page', async () => {
    const { next: start } = await readToEnd(store);
    const after = start ?? '0.0';
    const [txId, position] = after.split('.');
    const sql = readPageSql(store.appendLock, `${quoteSchema(t.schema)}.events`, eventColumns);
    const reader = new pg.Client({ connectionString: databaseUrl });
    await reader.connect();
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let appended!: () => void;
    const slowAppended = new Promise<void>((r) => (appended = r));
    const slowStream = `slow-${crypto.randomUUID()}`;
    const slowEvent = ev(slowStream);
    const slow = t.db.transaction(async (tx) => {
      await store.appendWith(tx, slowStream, [slowEvent]);
      appended();
      await released;
    });
    try {
      await slowAppended;
      const fast = ev(`fast-${crypto.randomUUID()}`);
      await store.append(fast.streamId, [fast]);
      await reader.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await reader.query('SELECT 1'); // S: the slow appender is open, the fast event committed
      const page = async () => (await reader.query<{ retry: boolean; event_id: string | null }>(sql, [txId, position, 100])).rows;
      // Still open: it holds the append lock, so it bounds the page. (Whether to retry depends on other
      // sessions of the server that ended since S, too: not asserted here.)
      const open = await page();
      expect(open.filter((r) => r.event_id !== null)).toEqual([]);
      release();
      await slow;
      // Ended after S: its event is invisible in S and it holds no lock now. The page must still stop below it.
      const ended = await page();
      expect(ended.map((r) => r.event_id).filter(Boolean)).not.toContain(fast.id);
      expect(ended[0]!.retry).toBe(true);
      await reader.query('COMMIT');
      // A fresh statement reads both, in commit order of their transaction ids.
      expect((await readToEnd(store, start)).ids).toEqual([slowEvent.id, fast.id]);
    } finally {
      release();
      await slow.catch(() => undefined);
      await reader.end();
    }
  });
});
