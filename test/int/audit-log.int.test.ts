import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditLog } from '../../src/core/ports/audit-log.js';
import { MemoryAuditLog } from '../../src/memory/audit-log.js';
import { PostgresAuditLog } from '../../src/postgres/audit-log.js';
import { hasPostgres } from '../support/services.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';

/** The AuditLog port's contract, on every implementation: newest first, `since`, `limit`, values kept as given. */
function auditLogSuite(name: string, open: () => Promise<{ log: AuditLog; dispose: () => Promise<void> }>): void {
  describe(`AuditLog: ${name}`, () => {
    let log: AuditLog;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ log, dispose } = await open());
      for (let i = 0; i < 5; i++) {
        await log.record({
          at: `2026-01-0${i + 1}T00:00:00.000Z`, actor: i % 2 ? 'ops' : 'alice', action: 'dlq.retry', target: `id=${i}`, reason: `reason ${i} ✓`, outcome: i === 4 ? 'NOT_FOUND' : 'ok',
          ...(i === 0 ? { before: { status: 'open' }, after: { status: 'retried', note: 'n' } } : {}),
        });
      }
    }, 60_000);
    afterAll(() => dispose());

    it('lists newest first, with every field as recorded', async () => {
      const all = await log.list();
      expect(all.map((e) => e.target)).toEqual(['id=4', 'id=3', 'id=2', 'id=1', 'id=0']);
      expect(all[4]).toMatchObject({ at: '2026-01-01T00:00:00.000Z', actor: 'alice', action: 'dlq.retry', reason: 'reason 0 ✓', outcome: 'ok', before: { status: 'open' }, after: { status: 'retried', note: 'n' } });
      expect(all[0]).toMatchObject({ outcome: 'NOT_FOUND' });
      expect(all[0]).not.toHaveProperty('before');
      expect(new Set(all.map((e) => e.id)).size).toBe(5);
    });

    it('filters by since (inclusive) and caps by limit', async () => {
      expect((await log.list({ since: '2026-01-04T00:00:00.000Z' })).map((e) => e.target)).toEqual(['id=4', 'id=3']);
      expect((await log.list({ limit: 2 })).map((e) => e.target)).toEqual(['id=4', 'id=3']);
      expect(await log.list({ since: '2027-01-01T00:00:00.000Z' })).toEqual([]);
    });
  });
}

const onDb = (open: () => Promise<TestDb>) => async () => {
  const t = await open();
  return { log: new PostgresAuditLog(t.db, { schema: t.schema }), dispose: () => t.dispose() };
};

auditLogSuite('memory', async () => ({ log: new MemoryAuditLog(), dispose: async () => {} }));
auditLogSuite('PGlite', onDb(pgliteTestDb));
describe.runIf(hasPostgres())('real Postgres', () => {
  auditLogSuite('Postgres', onDb(() => pgTestDb()));
});
