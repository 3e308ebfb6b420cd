import { describe, expect, it } from 'vitest';
import { sagaSpec, SagaSpecAssertionError } from '../../src/testing/index.js';
import { OrderSaga, orderDelays } from '../support/test-saga.js';

describe('saga test kit', () => {
  it('given / when / then: state, status, emitted commands and timers', async () => {
    const spec = sagaSpec(OrderSaga);
    await spec.given({ type: 'order.placed', data: { orderId: 'o1', amount: 3 } });
    await spec.when({ type: 'order.noted', data: { orderId: 'o1' } });
    await spec.thenExpect({ state: 'awaitingPayment', status: 'running', emitted: [], timers: ['order.remind', 'xstate.after.paymentTimeout.Order.awaitingPayment'], context: { notes: 1, amount: 3 } });
    await spec.when({ type: 'payment.failed', data: { orderId: 'o1' } });
    await spec.thenExpect({ state: 'compensating', status: 'compensating', emitted: ['stock.release-requested'], timers: [] });
    await expect(spec.thenExpect({ status: 'completed' })).rejects.toBeInstanceOf(SagaSpecAssertionError);
  });

  it('advanceTime fires due timers in order at their due time', async () => {
    const spec = sagaSpec(OrderSaga);
    await spec.given({ type: 'order.placed', data: { orderId: 'o2' } });
    await spec.advanceTime(orderDelays.remind - 1);
    await spec.thenExpect({ emitted: [] });
    const fired = await spec.advanceTime(orderDelays.paymentTimeout);
    expect(fired.map((o) => o.result)).toEqual(['applied', 'applied']);
    await spec.thenExpect({ state: 'compensating', emitted: ['customer.reminded', 'stock.release-requested'] });
    const history = await spec.history();
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
    await spec.thenExpect({ context: { notes: 1 } });
    const letters = await spec.deadLetters();
    expect(letters).toHaveLength(1);
    expect(letters[0]!.error.message).toContain('poisoned note');
  });
});
