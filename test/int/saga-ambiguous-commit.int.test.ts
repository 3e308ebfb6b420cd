import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import type { Db, DbTransaction, QueryResult } from '../../src/core/ports/db.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { OrderSaga } from '../support/test-saga.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/**
 * A Db whose every n-th commit (a transaction, or a step's write statement that commits by itself) goes
 * through and then reports a failure, as when the connection drops after the commit reached the server:
 * the caller cannot know the step was applied, so it retries.
 */
class AmbiguousCommitDb implements Db {
  readonly dialect: Db['dialect'];
  commits = 0;
  ambiguous = 0;
  constructor(private readonly inner: Db, private readonly failEvery: number) {
    this.dialect = inner.dialect;
  }
  private committed<T>(result: T): T {
    if (++this.commits % this.failEvery === 0) {
      this.ambiguous++;
      throw new Error('connection lost after COMMIT (simulated)');
    }
    return result;
  }
  async query<R>(sql: string, params?: readonly unknown[], options?: { name?: string }): Promise<QueryResult<R>> {
    const result = await this.inner.query<R>(sql, params, options);
    // A step's write statement (it inserts the inbox row) commits on its own.
    return /INSERT INTO \S+\.saga_inbox/.test(sql) ? this.committed(result) : result;
  }
  exec(sql: string): Promise<void> {
    return this.inner.exec(sql);
  }
  async transaction<T>(fn: (tx: DbTransaction) => Promise<T>): Promise<T> {
    return this.committed(await this.inner.transaction(fn));
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

function ambiguousCommits(name: string, open: () => Promise<TestDb>): void {
  describe(`ambiguous commits: ${name}`, () => {
    let t: TestDb;
    beforeAll(async () => (t = await open()));
    afterAll(() => t.dispose());

    it('a step whose commit is reported as failed and then retried is applied once', async () => {
      const db = new AmbiguousCommitDb(t.db, 3);
      const repository = new PostgresSagaRepository(db, { schema: t.schema });
      const runtime = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
      const key = `o-${crypto.randomUUID()}`;
      // Deliver like a bus does: retry on error until the delivery succeeds.
      const deliver = async (event: EventEnvelope) => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await runtime.handle(event);
          } catch (err) {
            if (attempt >= 5) throw err;
          }
        }
      };
      await deliver(createEvent({ type: 'order.placed', streamId: key, data: { orderId: key, amount: 5 } }));
      const notes = 30;
      for (let i = 0; i < notes; i++) await deliver(createEvent({ type: 'order.noted', streamId: key, data: { orderId: key } }));

      expect(db.ambiguous).toBeGreaterThanOrEqual(10); // the fault was injected, and retried
      const inst = await repository.get('Order', key);
      expect(inst!.context.notes).toBe(notes); // not notes + retries
      expect(inst!.version).toBe(notes + 1);
      const history = await repository.history('Order', key, { limit: 1000 });
      expect(history.filter((h) => h.kind === 'applied')).toHaveLength(notes + 1);
      expect(new Set(history.map((h) => h.eventId)).size).toBe(history.length);
      expect((await repository.emitted('Order', key)).map((o) => o.type)).toEqual(['payment.requested']);
    });
  });
}

ambiguousCommits('PGlite', pgliteTestDb);
describe.runIf(hasPostgres())('real Postgres', () => ambiguousCommits('Postgres', () => pgTestDb()));
