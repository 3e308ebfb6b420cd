import { describe, expect, expectTypeOf, it } from 'vitest';
import type { SagaStatus } from '../../src/core/ports/saga-store.js';
import { sagaSpec, SagaSpecAssertionError } from '../../src/testing/index.js';
import { OrderSaga, orderDelays } from '../support/test-saga.js';

describe('saga test kit', () => {
  it('given / when / then: state, status, emitted commands and timers', async () => {
    const spec = sagaSpec(OrderSaga);
    await spec.given({ type: 'order.placed', data: { orderId: 'o1', amount: 3 } });
    await spec.when({ type: 'order.noted', data: { orderId: 'o1' } });
    spec.thenExpect({ state: 'awaitingPayment', status: 'running', emitted: [], timers: ['order.remind', 'xstate.after.paymentTimeout.Order.awaitingPayment'], context: { notes: 1, amount: 3 } });
    await spec.when({ type: 'payment.failed', data: { orderId: 'o1' } });
    spec.thenExpect({ state: 'compensating', status: 'compensating', emitted: ['stock.release-requested'], timers: [] });
    expect(() => spec.thenExpect({ status: 'completed' })).toThrow(SagaSpecAssertionError);
  });

  it('advanceTime fires due timers in order at their due time', async () => {
    const spec = sagaSpec(OrderSaga);
    await spec.given({ type: 'order.placed', data: { orderId: 'o2' } });
    await spec.advanceTime(orderDelays.remind - 1);
    spec.thenExpect({ emitted: [] });
    const fired = await spec.advanceTime(orderDelays.paymentTimeout);
    expect(fired.map((o) => o.result)).toEqual(['applied', 'applied']);
    spec.thenExpect({ state: 'compensating', emitted: ['customer.reminded', 'stock.release-requested'] });
    const history = spec.history();
    expect(history.map((h) => h.at)).toEqual(['2025-01-01T00:00:00.000Z', '2025-01-01T00:00:10.000Z', '2025-01-01T00:01:00.000Z']);
  });

  it('duplicates are ignored and poison lands in dead letters', async () => {
    const spec = sagaSpec(OrderSaga);
    await spec.given({ type: 'order.placed', data: { orderId: 'o3' } });
    const note = spec.event('order.noted', { orderId: 'o3' });
    await spec.when(note);
    const again = await spec.when(note);
    expect(again.map((o) => o.result)).toEqual(['duplicate']);
    await spec.when({ type: 'order.noted', data: { orderId: 'o3', poison: true } });
    spec.thenExpect({ context: { notes: 1 } });
    const letters = spec.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.error.message).toContain('poisoned note');
  });

  it('reads are synchronous plain values of the last awaited step, typed so', () => {
    const spec = sagaSpec(OrderSaga);
    expectTypeOf(spec.state).returns.toEqualTypeOf<unknown>();
    expectTypeOf(spec.status).returns.toEqualTypeOf<SagaStatus>();
    expectTypeOf(spec.context).returns.toEqualTypeOf<Record<string, unknown>>();
    expectTypeOf(spec.thenExpect).returns.toBeVoid();
    expectTypeOf(spec.history).returns.toBeArray();
    expectTypeOf(spec.timers).returns.toBeArray();
    expectTypeOf(spec.allEmitted).returns.toBeArray();
    expectTypeOf(spec.deadLetters).returns.toBeArray();
    expectTypeOf(spec.emitted).returns.toBeArray();
  });

  it('the accessors show the state after each awaited given / when / advanceTime', async () => {
    const spec = sagaSpec(OrderSaga);
    await spec.given({ type: 'order.placed', data: { orderId: 'o4', amount: 7 } });
    expect(spec.state()).toBe('awaitingPayment');
    expect(spec.status()).toBe('running');
    expect(spec.context()).toMatchObject({ orderId: 'o4', amount: 7, notes: 0 });
    expect(spec.timers().map((t) => t.id)).toEqual(['reminder', 'xstate.after.paymentTimeout.Order.awaitingPayment']);
    expect(spec.allEmitted().map((e) => e.type)).toEqual(['payment.requested']);
    await spec.when({ type: 'order.noted', data: { orderId: 'o4' } });
    expect(spec.context()).toMatchObject({ notes: 1 });
    expect(spec.history()).toHaveLength(2);
    await spec.advanceTime(60_000);
    expect(spec.state()).toBe('compensating');
    expect(spec.timers()).toEqual([]);
    expect(spec.allEmitted().map((e) => e.type)).toEqual(['payment.requested', 'customer.reminded', 'stock.release-requested']);
    // Another key: its own view; a key without an instance has no state, but its dead letter shows.
    await spec.when({ type: 'payment.failed', data: { orderId: 'nobody' } });
    expect(spec.state('o4')).toBe('compensating');
    expect(() => spec.state('nobody')).toThrow(SagaSpecAssertionError);
    expect(spec.deadLetters().map((l) => l.sagaKey)).toEqual(['nobody']);
    expect(spec.history('nobody').map((h) => h.kind)).toEqual(['dead-lettered']);
  });

  it('refuses to read while a step is still running, and hands out copies', async () => {
    const spec = sagaSpec(OrderSaga);
    await spec.given({ type: 'order.placed', data: { orderId: 'o5' } });
    const pending = spec.when({ type: 'order.noted', data: { orderId: 'o5' } });
    expect(() => spec.context()).toThrow(/still running; await it first/);
    expect(() => spec.thenExpect({ context: { notes: 0 } })).toThrow(/still running/);
    await pending;
    const context = spec.context();
    expect(context).toMatchObject({ notes: 1 });
    context.notes = 99;
    expect(spec.context()).toMatchObject({ notes: 1 });
  });
});
