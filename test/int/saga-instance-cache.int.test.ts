import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { StepResult } from '../../src/runtime/saga-step.js';
import { OrderSaga } from '../support/test-saga.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/**
 * An event step of the Postgres repository takes its instance from what this process last wrote or read
 * (no read statement) and relies on the write's version check and inbox row. These prove that a stale copy
 * never decides a step: another writer's step in between, an event delivered again, a poison event.
 */
function instanceCache(name: string, open: () => Promise<TestDb>): void {
  describe(`instance cache of event steps: ${name}`, () => {
    let t: TestDb;
    beforeAll(async () => (t = await open()));
    afterAll(() => t.dispose());

    const runtimeOf = () => new SagaRuntime({ repository: new PostgresSagaRepository(t.db, { schema: t.schema }), sagas: [OrderSaga], timers: false });
    const placed = (key: string) => createEvent({ type: 'order.placed', streamId: key, data: { orderId: key, amount: 5 } });
    const noted = (key: string, poison = false) => createEvent({ type: 'order.noted', streamId: key, data: { orderId: key, ...(poison ? { poison } : {}) } });

    it('a step of another process in between: the next step here sees it (no lost update)', async () => {
      const here = runtimeOf();
      const other = runtimeOf();
      const key = `c-${crypto.randomUUID()}`;
      await here.handle(placed(key)); // here caches version 1
      await here.handle(noted(key)); // version 2, cached
      await other.handle(noted(key)); // version 3, written by the other process
      await here.handle(noted(key)); // the cached version 2 is refused; decided again on version 3
      const instance = await new PostgresSagaRepository(t.db, { schema: t.schema }).get('Order', key);
      expect(instance!.context.notes).toBe(3);
      expect(instance!.version).toBe(4);
    });

    it('an event delivered again after the step that applied it is a duplicate, not applied twice', async () => {
      const here = runtimeOf();
      const key = `c-${crypto.randomUUID()}`;
      await here.handle(placed(key));
      const note = noted(key);
      expect((await here.handle(note))[0]!.result).toBe(StepResult.Applied);
      expect((await here.handle(note))[0]!.result).toBe(StepResult.Duplicate);
      const repository = new PostgresSagaRepository(t.db, { schema: t.schema });
      expect((await repository.get('Order', key))!.context.notes).toBe(1);
      expect((await repository.history('Order', key)).filter((h) => h.eventId === note.id)).toHaveLength(1);
    });

    it('a poison event for a cached instance is dead-lettered once, after a fresh read', async () => {
      const here = runtimeOf();
      const key = `c-${crypto.randomUUID()}`;
      await here.handle(placed(key));
      const poison = noted(key, true);
      expect((await here.handle(poison))[0]!.result).toBe(StepResult.DeadLettered);
      const repository = new PostgresSagaRepository(t.db, { schema: t.schema });
      const letters = await repository.deadLetters.list({ limit: 100 });
      expect(letters.filter((l) => l.event.id === poison.id)).toHaveLength(1);
      expect((await repository.get('Order', key))!.version).toBe(1); // the instance is untouched
    });
  });
}

instanceCache('PGlite', pgliteTestDb);
describe.runIf(hasPostgres())('real Postgres', () => instanceCache('Postgres', () => pgTestDb()));
