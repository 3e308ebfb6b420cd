import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import type { Db } from '../../src/core/ports/db.js';
import type { SagaBatchTx } from '../../src/core/ports/saga-repository.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { StepResult } from '../../src/runtime/saga-step.js';
import { pgExtraDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';
import { OrderSaga } from '../support/test-saga.js';

// Two runtimes on separate pools are two processes as far as Postgres is concerned.
describe.runIf(hasPostgres())('saga runtimes racing on real Postgres (two pools)', () => {
  let t: TestDb;
  let extra: Db;
  let a: SagaRuntime;
  let b: SagaRuntime;

  beforeAll(async () => {
    t = await pgTestDb({ max: 8 });
    extra = pgExtraDb(8);
    a = new SagaRuntime({ repository: new PostgresSagaRepository(t.db, { schema: t.schema }), sagas: [OrderSaga], timers: false, maxConflictRetries: 50 });
    b = new SagaRuntime({ repository: new PostgresSagaRepository(extra, { schema: t.schema }), sagas: [OrderSaga], timers: false, maxConflictRetries: 50 });
  });
  afterAll(async () => {
    await extra.close();
    await t.dispose();
  });

  const ev = (type: string, orderId: string, extra: Record<string, unknown> = {}) => createEvent({ type, streamId: orderId, data: { orderId, ...extra } });

  it('no duplicate instance from racing start events, no lost update, no doubled effect', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => `race-${i}-${crypto.randomUUID()}`);
    // Two different start events per key, one on each runtime, at once.
    await Promise.all(keys.flatMap((k) => [a.handle(ev('order.placed', k)), b.handle(ev('order.placed', k))]));
    // Six distinct notes per key, each delivered to both runtimes at once (12 deliveries per key).
    const notes = keys.flatMap((k) => Array.from({ length: 6 }, () => ev('order.noted', k)));
    await Promise.all(notes.flatMap((n) => [a.handle(n), b.handle(n)]));
    // The failure reply, delivered to both.
    const failed = keys.map((k) => ev('payment.failed', k));
    await Promise.all(failed.flatMap((f) => [a.handle(f), b.handle(f)]));

    const repo = new PostgresSagaRepository(t.db, { schema: t.schema });
    for (const k of keys) {
      const inst = await repo.get('Order', k);
      expect(inst).toMatchObject({ state: 'compensating', context: { notes: 6 } });
      // placed + ignored second start + 6 notes + failed
      expect(inst!.version).toBe(9);
      const types = (await repo.emitted('Order', k)).map((r) => r.type);
      expect(types).toEqual(['payment.requested', 'stock.release-requested']);
      const applied = (await repo.history('Order', k)).filter((h) => h.kind === 'applied');
      expect(applied).toHaveLength(8);
      expect(new Set(applied.map((h) => h.eventId)).size).toBe(8);
    }
    const { rows } = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${t.schema}".saga_instances WHERE key LIKE 'race-%'`);
    expect(rows[0]!.n).toBe(keys.length);
  });

  it('a batch whose instance another writer moves is rolled back and its steps applied one by one, each once', async () => {
    const [x, y] = [`batch-x-${crypto.randomUUID()}`, `batch-y-${crypto.randomUUID()}`];
    const repository = new PostgresSagaRepository(t.db, { schema: t.schema });
    const runtime = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
    await runtime.handle(ev('order.placed', x));
    await runtime.handle(ev('order.placed', y));
    // The first write of the batch waits for a step on another pool that moves instance x (read by the
    // batch's preload, not locked): the batch's version check on x must fail.
    const realBatch = repository.stepBatch.bind(repository);
    let interfered = false;
    vi.spyOn(repository, 'stepBatch').mockImplementation((fn, options) =>
      realBatch(async (tx: SagaBatchTx) => {
        const step = { ...tx.step, write: async (w: Parameters<SagaBatchTx['step']['write']>[0]) => {
          if (!interfered && w.key === x) {
            interfered = true;
            await b.handle(ev('order.noted', x));
          }
          return tx.step.write(w);
        } };
        return fn({ preload: (reads) => tx.preload(reads), step });
      }, options) as never,
    );
    const single = vi.spyOn(repository, 'step');
    const page = [ev('order.noted', x), ev('order.noted', y), ev('order.noted', x), ev('order.noted', y)];
    const outcomes = await runtime.applyBatch(page, { stepsPerTransaction: 100 });
    expect(interfered).toBe(true);
    expect(outcomes.map((o) => o.result)).toEqual(Array(4).fill(StepResult.Applied));
    expect(single).toHaveBeenCalledTimes(4); // the batch rolled back; its four steps retried one by one
    expect(await t.db.query('SELECT key, version, context FROM ' + t.schema + '.saga_instances WHERE key IN ($1, $2) ORDER BY key', [x, y]).then((r) => r.rows))
      .toEqual([
        { key: x, version: 4, context: expect.objectContaining({ notes: 3 }) },
        { key: y, version: 3, context: expect.objectContaining({ notes: 2 }) },
      ]);
    const history = await repository.history('Order', x);
    expect(history.filter((h) => h.eventType === 'order.noted')).toHaveLength(3);
  });
});
