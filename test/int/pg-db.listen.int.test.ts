import { describe, expect, it } from 'vitest';
import { PgDb } from '../../src/postgres/pg-db.js';
import { databaseUrl, hasPostgres } from '../support/services.js';

describe.runIf(hasPostgres())('PgDb.listen (real Postgres)', () => {
  // Wake-ups must survive a server that cuts the listening session (restart, failover, pg_terminate_backend).
  it('listens again after its connection is terminated, and says so with an empty wake-up', async () => {
    const app = `sagaflow-listen-${process.pid}-${Date.now()}`;
    const db = new PgDb({ connectionString: databaseUrl!, applicationName: app, max: 3 });
    const admin = new PgDb({ connectionString: databaseUrl!, max: 1 });
    const channel = `sagaflow_test_${process.pid}_${Date.now()}`;
    const got: string[] = [];
    const stop = await db.listen(channel, (p) => got.push(p));
    try {
      await admin.query('SELECT pg_notify($1, $2)', [channel, 'before']);
      await until(() => got.includes('before'));
      const { rows } = await admin.query<{ n: string }>('SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1', [app]);
      expect(Number(rows[0]!.n)).toBe(1);
      await until(() => got.includes('')); // listening again
      await admin.query('SELECT pg_notify($1, $2)', [channel, 'after']);
      await until(() => got.includes('after'));
    } finally {
      await stop();
      await db.close();
      await admin.close();
    }
  });
});

async function until(ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}
