import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import type { StoredEvent } from '../../src/core/ports/event-store.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { OrderSaga, orderDelays } from '../support/test-saga.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/**
 * `PostgresSagaRepository.onCommitted` reports the events a step appended, with their places in the log, once
 * they are committed (ADR 0018: the daemon hands the commands among them to waiting workers). Every kind of
 * step reports: an event step (one self-committing statement), a timer step (claim and write in one
 * transaction), a batch of steps; and what it reports is what the log holds.
 */
function committedEvents(name: string, open: () => Promise<TestDb>): void {
  describe(`onCommitted: ${name}`, () => {
    let t: TestDb;
    beforeAll(async () => (t = await open()));
    afterAll(() => t.dispose());

    const setUp = (stepsPerTransaction = 1) => {
      let now = new Date('2026-12-05T10:00:00Z');
      const clock = { now: () => now };
      const repository = new PostgresSagaRepository(t.db, { schema: t.schema, clock });
      const reported: StoredEvent[][] = [];
      repository.onCommitted = (events) => reported.push(events);
      const runtime = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false, clock, stepsPerTransaction });
      return { repository, runtime, reported, advance: (ms: number) => (now = new Date(now.getTime() + ms)) };
    };
    const placed = (key: string) => createEvent({ type: 'order.placed', streamId: key, data: { orderId: key, amount: 5 } });

    /** Each reported event is in the log, at the reported place. */
    const expectInLog = async (repository: PostgresSagaRepository, events: StoredEvent[]) => {
      for (const e of events) {
        const [stored] = await repository.store.readStream(e.streamId, { fromVersion: e.version, limit: 1 });
        expect(stored).toMatchObject({ id: e.id, type: e.type, position: e.position, cursor: e.cursor });
      }
    };

    it('an event step reports the command it emitted', async () => {
      const { repository, runtime, reported } = setUp();
      const key = `ce-${crypto.randomUUID()}`;
      await runtime.handle(placed(key));
      expect(reported.flat().map((e) => e.type)).toEqual(['payment.requested']);
      await expectInLog(repository, reported.flat());
    });

    it('a timer step reports the events it emitted, after its transaction committed', async () => {
      const { repository, runtime, reported, advance } = setUp();
      const key = `ct-${crypto.randomUUID()}`;
      await runtime.handle(placed(key));
      const fire = async (ms: number) => {
        reported.length = 0;
        advance(ms);
        expect(await runtime.fireDueTimers()).toBeGreaterThanOrEqual(1);
        const mine = reported.flat().filter((e) => e.metadata.sagaKey === key);
        await expectInLog(repository, mine);
        return mine.map((e) => e.type);
      };
      // The reminder emits an event; the payment timeout leads to compensating, whose entry asks for the
      // stock to be released.
      expect(await fire(orderDelays.remind + 1)).toEqual(['customer.reminded']);
      expect(await fire(orderDelays.paymentTimeout)).toEqual(['stock.release-requested']);
      expect((await repository.get('Order', key))!.state).toBe('compensating');
    });

    it('a batch of steps reports the events of all its steps once, after it committed', async () => {
      const { repository, runtime, reported } = setUp(8);
      const keys = [0, 1, 2].map(() => `cb-${crypto.randomUUID()}`);
      await runtime.applyBatch(keys.map((k) => ({ ...placed(k) })));
      const mine = reported.flat().filter((e) => keys.includes(String(e.metadata.sagaKey)));
      expect(mine.map((e) => e.metadata.sagaKey).sort()).toEqual([...keys].sort());
      await expectInLog(repository, mine);
    });
  });
}

committedEvents('PGlite', pgliteTestDb);
describe.runIf(hasPostgres())('real Postgres', () => committedEvents('Postgres', () => pgTestDb()));
