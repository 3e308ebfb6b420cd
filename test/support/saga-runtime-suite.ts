import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import type { SagaRepository } from '../../src/core/ports/saga-repository.js';
import { emittedEventId } from '../../src/core/saga/event-mapping.js';
import { defineSaga } from '../../src/core/saga/define-saga.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { StepResult } from '../../src/runtime/saga-step.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { OrderSaga, orderDelays } from './test-saga.js';
import { OrderSagaV2 } from './test-saga-v2.js';

/** Builds a repository for the suite; `reopen` gives a second repository on the same storage (a restarted process). */
export type SagaRepositoryFactory = (clock: FakeClock) => Promise<{
  repository: SagaRepository;
  reopen(): SagaRepository;
  dispose(): Promise<void>;
}>;

const ParkedOrderSaga = defineSaga({ ...OrderSaga, name: 'OrderParked', onMissing: 'park' });
const IgnoringOrderSaga = defineSaga({ ...OrderSaga, name: 'OrderIgnoring', onMissing: 'ignore' });

/** The saga runtime conformance suite: every repository must pass it unchanged. */
export function sagaRuntimeSuite(name: string, factory: SagaRepositoryFactory): void {
  describe(`saga runtime conformance: ${name}`, () => {
    const clock = new FakeClock('2025-01-01T00:00:00.000Z');
    let repository: SagaRepository;
    let reopen: () => SagaRepository;
    let dispose: () => Promise<void>;
    let runtime: SagaRuntime;

    beforeAll(async () => {
      ({ repository, reopen, dispose } = await factory(clock));
      runtime = new SagaRuntime({ repository, sagas: [OrderSaga, ParkedOrderSaga, IgnoringOrderSaga], clock, timers: false });
    });
    afterAll(async () => {
      await runtime.stop();
      await dispose();
    });

    const ev = (type: string, orderId: string, extra: Record<string, unknown> = {}): EventEnvelope =>
      createEvent({ type, streamId: orderId, data: { orderId, ...extra } }, clock.now());
    const newKey = () => `o-${crypto.randomUUID()}`;
    const types = (rows: EventEnvelope[]) => rows.map((r) => r.type);
    const forOrder = (outcomes: Awaited<ReturnType<SagaRuntime['handle']>>) => outcomes.find((o) => o.saga === 'Order')!;

    it('a start event creates the instance, its emitted event and its timers in one step', async () => {
      const key = newKey();
      const placed = ev('order.placed', key, { amount: 7 });
      const out = forOrder(await runtime.handle(placed));
      expect(out.result).toBe(StepResult.Created);
      const inst = await repository.get('Order', key);
      expect(inst).toMatchObject({ version: 1, definitionVersion: 1, status: 'running', state: 'awaitingPayment', context: { orderId: key, amount: 7, notes: 0 } });
      const emitted = await repository.emitted('Order', key);
      expect(types(emitted)).toEqual(['payment.requested']);
      expect(emitted[0]!.metadata).toMatchObject({ causationId: placed.id, saga: 'Order', sagaKey: key });
      // Derived from saga, key, cause and index: a step decided twice emits the same ids.
      expect(emitted[0]!.id).toBe(emittedEventId('Order', key, placed.id, 0));
      expect(out.emitted!.map((e) => e.id)).toEqual([emitted[0]!.id]);
      const timers = await repository.timers('Order', key);
      expect(timers.map((t) => t.id).sort()).toEqual(['reminder', 'xstate.after.paymentTimeout.Order.awaitingPayment']);
      expect(timers.find((t) => t.id === 'reminder')!.dueAt).toBe(new Date(clock.now().getTime() + orderDelays.remind).toISOString());
      const history = await repository.history('Order', key);
      expect(history).toHaveLength(1);
      expect(history[0]).toMatchObject({ eventId: placed.id, eventType: 'order.placed', kind: 'applied', fromState: null, toState: 'awaitingPayment' });
    });

    it('the same event delivered 3 times (in a row and at once) is applied once', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      const note = ev('order.noted', key);
      const results = [forOrder(await runtime.handle(note)).result];
      const concurrent = await Promise.all([runtime.handle(note), runtime.handle(note), runtime.handle(note)]);
      results.push(...concurrent.map((o) => forOrder(o).result));
      expect(results.filter((r) => r === StepResult.Applied)).toHaveLength(1);
      expect(results.filter((r) => r === StepResult.Duplicate)).toHaveLength(3);
      const inst = await repository.get('Order', key);
      expect(inst!.context.notes).toBe(1);
      expect(inst!.version).toBe(2);
      expect((await repository.history('Order', key)).filter((h) => h.eventId === note.id)).toHaveLength(1);
    });

    it('two racing start events create one instance and run the start effects once', async () => {
      const key = newKey();
      const outcomes = await Promise.all([runtime.handle(ev('order.placed', key)), runtime.handle(ev('order.placed', key))]);
      const results = outcomes.map((o) => forOrder(o).result).sort();
      expect(results).toEqual([StepResult.Created, StepResult.Ignored]);
      expect(types(await repository.emitted('Order', key))).toEqual(['payment.requested']);
      expect((await repository.list({ saga: 'Order' })).filter((i) => i.key === key)).toHaveLength(1);
    });

    it('timers fire once, at their time, even when fired twice or by a second runtime after a restart', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      const [reminder] = (await repository.timers('Order', key)).filter((t) => t.id === 'reminder');
      expect(await runtime.fireDueTimers()).toBe(0); // not due yet
      clock.advance(orderDelays.remind);
      // A restarted process: a new repository object and runtime on the same storage.
      const restarted = new SagaRuntime({ repository: reopen(), sagas: [OrderSaga], clock, timers: false });
      const fired = await Promise.all([restarted.fireTimer(reminder!), runtime.fireTimer(reminder!)]);
      expect(fired.map((f) => f.result).sort()).toEqual([StepResult.Applied, StepResult.TimerSkipped]);
      expect(forOrder([await runtime.fireTimer(reminder!)]).result).toBe(StepResult.TimerSkipped);
      await restarted.fireDueTimers(); // a poller pass: the reminder is gone, nothing of this instance is due
      expect(types(await repository.emitted('Order', key))).toEqual(['payment.requested', 'customer.reminded']);
      expect((await repository.timers('Order', key)).map((t) => t.id)).toEqual(['xstate.after.paymentTimeout.Order.awaitingPayment']);
      clock.advance(orderDelays.paymentTimeout);
      await restarted.fireDueTimers();
      expect(await repository.get('Order', key)).toMatchObject({ state: 'compensating', status: 'compensating' });
      expect(types(await repository.emitted('Order', key))).toEqual(['payment.requested', 'customer.reminded', 'stock.release-requested']);
    });

    it('a cancelled timer never fires', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      const out = forOrder(await runtime.handle(ev('order.cancel-reminder', key)));
      expect(out.cancelledTimers).toEqual(['reminder']);
      expect((await repository.timers('Order', key)).map((t) => t.id)).not.toContain('reminder');
      clock.advance(orderDelays.remind + 1);
      await runtime.fireDueTimers();
      expect(types(await repository.emitted('Order', key))).not.toContain('customer.reminded');
    });

    it('a reply arriving after completion is recorded in history and ignored', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      await runtime.handle(ev('payment.succeeded', key));
      expect(await repository.get('Order', key)).toMatchObject({ status: 'completed', state: 'paid' });
      expect(await repository.timers('Order', key)).toEqual([]);
      const late = ev('payment.failed', key);
      expect(forOrder(await runtime.handle(late)).result).toBe(StepResult.AfterCompletion);
      expect(await repository.get('Order', key)).toMatchObject({ status: 'completed', state: 'paid' });
      expect(types(await repository.emitted('Order', key))).toEqual(['payment.requested', 'order.confirmed']);
      const h = (await repository.history('Order', key)).at(-1)!;
      expect(h).toMatchObject({ eventId: late.id, kind: 'after-completion', fromState: 'paid', toState: 'paid' });
    });

    it('a poison event is dead-lettered while other events of the instance still apply', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      const poison = ev('order.noted', key, { poison: true });
      expect(forOrder(await runtime.handle(poison)).result).toBe(StepResult.DeadLettered);
      const bad = ev('order.noted', key, { poison: 'not-a-boolean' });
      expect(forOrder(await runtime.handle(bad)).result).toBe(StepResult.DeadLettered);
      expect(forOrder(await runtime.handle(ev('order.noted', key))).result).toBe(StepResult.Applied);
      expect(forOrder(await runtime.handle(ev('payment.failed', key))).result).toBe(StepResult.Applied);
      expect(await repository.get('Order', key)).toMatchObject({ state: 'compensating', context: { notes: 1 } });
      const letters = await repository.deadLetters.list({ saga: 'Order', sagaKey: key });
      expect(letters.map((l) => l.event.id).sort()).toEqual([poison.id, bad.id].sort());
      expect(letters.find((l) => l.event.id === poison.id)!.error.message).toContain('poisoned note');
      expect(letters.find((l) => l.event.id === bad.id)!.error.code).toBe('VALIDATION');
      expect((await repository.history('Order', key)).filter((h) => h.kind === 'dead-lettered')).toHaveLength(2);
    });

    it('onMissing: dead-letter, ignore and park', async () => {
      const key = newKey();
      const early = ev('payment.succeeded', key);
      const outcomes = await runtime.handle(early);
      expect(Object.fromEntries(outcomes.map((o) => [o.saga, o.result]))).toEqual({
        Order: StepResult.DeadLettered, OrderParked: StepResult.Parked, OrderIgnoring: StepResult.Missing,
      });
      expect(await repository.parked('OrderParked', key)).toHaveLength(1);
      await runtime.handle(ev('order.placed', key));
      expect(await repository.get('OrderParked', key)).toMatchObject({ state: 'paid', status: 'completed' });
      expect(await repository.get('Order', key)).toMatchObject({ state: 'awaitingPayment' });
      expect(await repository.parked('OrderParked', key)).toEqual([]);
      expect((await repository.deadLetters.list({ saga: 'Order', sagaKey: key })).map((l) => l.event.id)).toEqual([early.id]);
    });

    it('an instance of a version no loaded definition has is dead-lettered, with advice naming migrateFrom and sagas migrate', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      const v2 = new SagaRuntime({ repository, sagas: [defineSaga({ ...OrderSaga, version: 2 })], clock, timers: false });
      const out = (await v2.handle(ev('payment.succeeded', key)))[0]!;
      expect(out.result).toBe(StepResult.DeadLettered);
      expect(out.error!.code).toBe('SAGA_VERSION_MISMATCH');
      expect(out.error!.message).toContain('migrateFrom: { 1: (snapshot) => ... } on version 2');
      expect(out.error!.message).toContain('sagaflow sagas migrate Order --from 1 --to 2');
      expect(await repository.get('Order', key)).toMatchObject({ state: 'awaitingPayment', version: 1 });
    });

    it('a finished instance of a version not loaded takes no more events, and is not dead-lettered', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      await runtime.handle(ev('payment.succeeded', key));
      const v2 = new SagaRuntime({ repository, sagas: [OrderSagaV2], clock, timers: false });
      expect((await v2.handle(ev('order.noted', key)))[0]!.result).toBe(StepResult.AfterCompletion);
      expect(await repository.deadLetters.list({ saga: 'Order', sagaKey: key })).toEqual([]);
    });

    it('versions side by side: running instances step on the version that started them, new ones start on the newest', async () => {
      const old = newKey();
      await runtime.handle(ev('order.placed', old, { amount: 5 }));
      const both = new SagaRuntime({ repository, sagas: [OrderSagaV2, OrderSaga], clock, timers: false });
      expect(both.handledTypes()).toContain('order.expedited');
      // The v1 instance keeps its machine: a note counts 1, and v2's new event is not one it takes.
      await both.handle(ev('order.noted', old));
      expect(await repository.get('Order', old)).toMatchObject({ definitionVersion: 1, state: 'awaitingPayment', context: { notes: 1 } });
      expect((await both.handle(ev('order.expedited', old)))[0]!.result).toBe(StepResult.Ignored);
      const fresh = newKey();
      expect((await both.handle(ev('order.placed', fresh, { amount: 9 })))[0]!.result).toBe(StepResult.Created);
      await both.handle(ev('order.noted', fresh));
      expect(await repository.get('Order', fresh)).toMatchObject({ definitionVersion: 2, state: 'waitingForPayment', context: { notes: 10, currency: 'EUR' } });
      expect(types((await both.handle(ev('order.expedited', fresh)))[0]!.emitted ?? [])).toEqual(['order.expedite-requested']);
      // Each finishes on its own version.
      await both.handle(ev('payment.succeeded', old));
      await both.handle(ev('payment.succeeded', fresh));
      expect(await repository.get('Order', old)).toMatchObject({ definitionVersion: 1, state: 'paid' });
      expect(await repository.get('Order', fresh)).toMatchObject({ definitionVersion: 2, state: 'paid' });
      const confirmed = (await repository.emitted('Order', fresh)).find((e) => e.type === 'order.confirmed');
      expect(confirmed!.data).toMatchObject({ version: 2 });
    });

    it('a timer of a finished instance is dropped with a history note', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      await runtime.handle(ev('payment.succeeded', key));
      const stale = { id: 'leftover', saga: 'Order', key, event: { type: 'order.remind' }, dueAt: clock.now().toISOString() };
      await repository.step((tx) => tx.write({ saga: 'Order', key, event: ev('order.noted', key), inbox: false, timers: [stale] }));
      expect((await runtime.fireTimer(stale)).result).toBe(StepResult.TimerDropped);
      expect(await repository.timers('Order', key)).toEqual([]);
      expect((await repository.history('Order', key)).at(-1)).toMatchObject({ kind: 'timer-dropped', eventType: 'order.remind' });
    });

    it('an emitted event the log rejects dead-letters its cause in the same transaction and writes nothing else', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      const before = await repository.get('Order', key);
      // The emitted event is over the log's size cap (256 KiB): the step must not half-commit.
      const huge = ev('order.echo', key, { text: 'x'.repeat(300 * 1024) });
      const out = forOrder(await runtime.handle(huge));
      expect(out.result).toBe(StepResult.DeadLettered);
      expect(await repository.get('Order', key)).toEqual(before);
      expect(types(await repository.emitted('Order', key))).toEqual(['payment.requested']);
      const letters = await repository.deadLetters.list({ saga: 'Order', sagaKey: key });
      expect(letters.map((l) => l.event.id)).toEqual([huge.id]);
    });

    it('queries list instances by saga and status', async () => {
      const key = newKey();
      await runtime.handle(ev('order.placed', key));
      await runtime.handle(ev('payment.failed', key));
      await runtime.handle(ev('stock.released', key));
      const done = await repository.list({ saga: 'Order', status: 'compensated', limit: 1000 });
      expect(done.map((i) => i.key)).toContain(key);
      expect((await repository.list({ saga: 'Order', status: 'running', limit: 1000 })).map((i) => i.key)).not.toContain(key);
      expect(await repository.get('Order', 'nope')).toBeUndefined();
      // Newest first.
      const [older, newer] = [newKey(), newKey()];
      await runtime.handle(ev('order.placed', older));
      clock.advance(1000);
      await runtime.handle(ev('order.placed', newer));
      const keys = (await repository.list({ saga: 'Order', limit: 10_000 })).map((i) => i.key);
      expect(keys.indexOf(newer)).toBe(0);
      expect(keys.indexOf(older)).toBeGreaterThan(0);
    });

    it('sagaNames lists each saga with a stored instance once', async () => {
      await runtime.handle(ev('order.placed', newKey()));
      await runtime.handle(ev('order.placed', newKey()));
      const names = await repository.sagaNames();
      expect(names).toContain('Order');
      expect(new Set(names).size).toBe(names.length);
      expect(names).toEqual([...names].sort());
    });

    // The daemon's saga reader applies pages of the log with applyBatch; with more than one step per
    // transaction the steps of several instances commit together. Nothing observable may change.
    describe.each([1, 100])('applyBatch, %i steps per transaction', (stepsPerTransaction) => {
      const apply = (events: EventEnvelope[]) => runtime.applyBatch(events, { stepsPerTransaction });
      const forKey = (outcomes: Awaited<ReturnType<SagaRuntime['applyBatch']>>, saga: string, eventId: string) =>
        outcomes.find((o) => o.saga === saga && o.eventId === eventId)!;

      it('a page of interleaved events of 20 instances ends as applying them one by one would', async () => {
        const keys = Array.from({ length: 20 }, newKey);
        const page = [
          ...keys.map((k) => ev('order.placed', k, { amount: 3 })),
          ...keys.map((k) => ev('order.noted', k)),
          ...keys.map((k) => ev('order.noted', k)),
        ];
        const single = vi.spyOn(repository, 'step');
        const batches = vi.spyOn(repository, 'stepBatch');
        const outcomes = await apply(page);
        // Batched: one transaction for the whole page (three sagas × 20 instances × 3 events), no fallback.
        expect([batches.mock.calls.length, single.mock.calls.length]).toEqual(stepsPerTransaction === 1 ? [0, 180] : [2, 0]);
        single.mockRestore();
        batches.mockRestore();
        expect(outcomes.filter((o) => o.saga === 'Order').map((o) => o.result).sort()).toEqual(
          [...Array(20).fill(StepResult.Created), ...Array(40).fill(StepResult.Applied)].sort(),
        );
        for (const k of keys) {
          expect(await repository.get('Order', k)).toMatchObject({ version: 3, state: 'awaitingPayment', context: { notes: 2, amount: 3 } });
          expect((await repository.history('Order', k)).map((h) => h.eventType)).toEqual(['order.placed', 'order.noted', 'order.noted']);
          expect(types(await repository.emitted('Order', k))).toEqual(['payment.requested']);
        }
        // The same page again: every step is a duplicate, nothing changes.
        const again = await apply(page);
        expect(new Set(again.map((o) => o.result))).toEqual(new Set([StepResult.Duplicate]));
        expect(await repository.get('Order', keys[0]!)).toMatchObject({ version: 3 });
      });

      it('due timers of many instances fire in shared transactions, each once', async () => {
        const batched = new SagaRuntime({ repository, sagas: [OrderSaga], clock, timers: false, stepsPerTransaction });
        const keys = Array.from({ length: 10 }, newKey);
        await apply(keys.map((k) => ev('order.placed', k)));
        clock.advance(orderDelays.remind + 1);
        const batches = vi.spyOn(repository, 'stepBatch');
        await Promise.all([batched.fireDueTimers(1000), batched.fireDueTimers(1000)]); // two pollers at once
        if (stepsPerTransaction > 1) expect(batches).toHaveBeenCalled();
        batches.mockRestore();
        for (const k of keys) {
          expect(types(await repository.emitted('Order', k))).toEqual(['payment.requested', 'customer.reminded']);
          expect((await repository.timers('Order', k)).map((t) => t.id)).toEqual(['xstate.after.paymentTimeout.Order.awaitingPayment']);
        }
      });

      it('a poison event and a duplicate in a page: the poison is dead-lettered with its own error, the rest applied once', async () => {
        const [a, b] = [newKey(), newKey()];
        const noteA = ev('order.noted', a);
        await runtime.handle(ev('order.placed', a));
        await runtime.handle(noteA);
        const poison = ev('order.noted', b, { poison: true });
        const page = [noteA, ev('order.placed', b), poison, ev('order.noted', b), ev('order.noted', a), ev('payment.succeeded', a)];
        const outcomes = await apply(page);
        expect(forKey(outcomes, 'Order', noteA.id).result).toBe(StepResult.Duplicate);
        expect(forKey(outcomes, 'Order', poison.id)).toMatchObject({ result: StepResult.DeadLettered, error: { message: expect.stringContaining('poisoned note') } });
        expect(await repository.get('Order', a)).toMatchObject({ state: 'paid', status: 'completed', context: { notes: 2 } });
        expect(await repository.get('Order', b)).toMatchObject({ state: 'awaitingPayment', context: { notes: 1 } });
        expect(types(await repository.emitted('Order', a))).toEqual(['payment.requested', 'order.confirmed']);
        const letters = await repository.deadLetters.list({ saga: 'Order', sagaKey: b });
        expect(letters.map((l) => l.event.id)).toEqual([poison.id]);
        expect(letters[0]!.error.message).toContain('poisoned note');
        expect((await repository.history('Order', b)).map((h) => h.kind)).toEqual(['applied', 'dead-lettered', 'applied']);
      });
    });
  });
}
