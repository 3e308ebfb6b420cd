import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { hasPostgres } from '../support/services.js';
import { pgExtraDb } from '../support/postgres.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';

/**
 * Read routes run under `http.statement_timeout`: a query that cannot finish in time (here: blocked behind
 * another session's exclusive lock on the event log, as a runaway query would hold it) is cancelled by
 * Postgres and answered as a clear 503 `QUERY_TIMEOUT`, not a stack trace nor a request hanging for as long as
 * the lock. (Postgres only: PGlite runs a statement on the calling thread and cannot interrupt it.)
 */
describe.runIf(hasPostgres())('statement timeout of read routes (real Postgres)', () => {
  let t: TestDaemon;
  beforeAll(async () => {
    t = await openTestDaemon('postgres', { name: 'stmt_timeout', sagas: [OrderSaga], flags: { 'http.statementTimeoutMs': '300ms' } });
  }, 120_000);
  afterAll(() => t.dispose());

  const get = (path: string) => fetch(`${t.daemon.url}${path}`, { headers: { authorization: `Bearer ${t.token}` } });

  it('a read that runs past the timeout is a 503 QUERY_TIMEOUT naming the limit; the same read answers once unblocked', async () => {
    expect((await get('/v1/events?limit=5')).status).toBe(200);
    const locker = pgExtraDb(1);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holding = locker.transaction(async (tx) => {
      await tx.query(`LOCK TABLE ${quoteSchema(t.schema)}.events IN ACCESS EXCLUSIVE MODE`);
      locked();
      await held;
    });
    try {
      await isLocked;
      const started = Date.now();
      const res = await get('/v1/events?limit=5');
      const elapsed = Date.now() - started;
      const body = (await res.json()) as { code: string; message: string; details: Record<string, unknown> };
      expect(res.status).toBe(503);
      expect(body).toMatchObject({ code: 'QUERY_TIMEOUT', details: { timeoutMs: 300 } });
      expect(body.message).toMatch(/ran past the 300 ms statement timeout and was cancelled: narrow it .* or raise http\.statement_timeout/);
      expect(JSON.stringify(body)).not.toMatch(/\bat .*\.ts:\d+/);
      expect(elapsed).toBeLessThan(5000); // the lock is held until we release it: only the timeout ended the wait
    } finally {
      release();
      await holding;
      await locker.close();
    }
    expect((await get('/v1/events?limit=5')).status).toBe(200);
  });
});
