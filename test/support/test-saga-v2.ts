import { assign, emit, setup } from 'xstate';
import { z } from 'zod';
import { defineSaga } from '../../src/core/saga/define-saga.js';
import type { SagaMachineEvent } from '../../src/core/saga/event-mapping.js';
import { OrderSaga, orderDelays } from './test-saga.js';

type Ev = SagaMachineEvent<Record<string, unknown>>;

/** The context of version 2: version 1's plus a currency. */
export const orderV2Context = z.object({ orderId: z.string(), notes: z.number().int(), amount: z.number(), currency: z.string().length(3) });

/**
 * Version 2 of the test Order saga, changed in ways a test can see: `awaitingPayment` is renamed
 * `waitingForPayment`, a note counts 10 (not 1), the context has a currency, and `order.expedited` is new
 * (version 1 does not declare it). Migration from version 1 renames the state and adds `currency: 'EUR'`;
 * it throws for an order of amount 13, and gives an invalid currency for amount 14 (so the zod check fails).
 */
export const orderMachineV2 = setup({
  types: { context: {} as z.infer<typeof orderV2Context>, events: {} as Ev, input: {} as { key: string; event: Ev } },
  delays: orderDelays,
}).createMachine({
  id: 'Order',
  initial: 'idle',
  context: ({ input }) => ({ orderId: input.key, notes: 0, amount: 0, currency: 'EUR' }),
  states: {
    idle: {
      on: {
        'order.placed': {
          target: 'waitingForPayment',
          actions: [
            assign({ amount: ({ event }) => Number(event.data.amount ?? 0) }),
            emit(({ context }) => ({ type: 'payment.requested', data: { orderId: context.orderId, currency: context.currency } })),
          ],
        },
      },
    },
    waitingForPayment: {
      after: { paymentTimeout: { target: 'compensating' } },
      on: {
        'order.noted': { actions: assign({ notes: ({ context }) => context.notes + 10 }) },
        'order.expedited': { actions: emit(({ context }) => ({ type: 'order.expedite-requested', data: { orderId: context.orderId } })) },
        'payment.succeeded': { target: 'paid', actions: emit(({ context }) => ({ type: 'order.confirmed', data: { orderId: context.orderId, version: 2 } })) },
        'payment.failed': { target: 'compensating' },
      },
    },
    compensating: {
      tags: ['compensating'],
      entry: emit(({ context }) => ({ type: 'stock.release-requested', data: { orderId: context.orderId } })),
      on: { 'stock.released': 'compensated' },
    },
    paid: { type: 'final' },
    compensated: { type: 'final', tags: ['compensated'] },
  },
});

const byOrder = (e: { data: Record<string, unknown> }) => String(e.data.orderId);

/** Version 2 of {@link OrderSaga}, with a migration from version 1. */
export const OrderSagaV2 = defineSaga({
  name: 'Order',
  version: 2,
  machine: orderMachineV2,
  events: { ...OrderSaga.events, 'order.expedited': z.object({ orderId: z.string().min(1) }) },
  correlate: { ...OrderSaga.correlate, 'order.expedited': byOrder },
  startedBy: ['order.placed'],
  context: orderV2Context,
  migrateFrom: {
    1: ({ value, context }) => {
      if (context.amount === 13) throw new Error('unlucky order');
      return {
        value: value === 'awaitingPayment' ? 'waitingForPayment' : value,
        context: { orderId: String(context.orderId), notes: Number(context.notes), amount: Number(context.amount), currency: context.amount === 14 ? 'euro' : 'EUR' },
      };
    },
  },
});
export { OrderSaga } from './test-saga.js';
