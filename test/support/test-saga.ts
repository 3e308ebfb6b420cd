import { assign, emit, raise, cancel, setup } from 'xstate';
import { z } from 'zod';
import { defineSaga } from '../../src/core/saga/define-saga.js';
import type { SagaMachineEvent } from '../../src/core/saga/event-mapping.js';

/** Delays of the test saga (ms). */
export const orderDelays = { paymentTimeout: 60_000, remind: 10_000 } as const;

type Ev = SagaMachineEvent<Record<string, unknown>>;

/**
 * A tiny order saga used by the runtime tests (independent of the example sagas):
 * order.placed → awaitingPayment (emits payment.requested; payment timeout; a cancellable reminder)
 * → payment.succeeded → paid (final, emits order.confirmed)
 * → payment.failed or timeout → compensating (emits stock.release-requested) → stock.released → compensated.
 * `order.noted` counts notes; its guard throws on `data.poison` (a poison event). `order.echo` emits its text.
 */
export const orderMachine = setup({
  types: { context: {} as { orderId: string; notes: number; amount: number }, events: {} as Ev | { type: 'order.remind' }, input: {} as { key: string; event: Ev } },
  delays: orderDelays,
  guards: {
    notPoison: ({ event }) => {
      if ((event as Ev).data?.poison === true) throw new Error('poisoned note');
      return true;
    },
  },
}).createMachine({
  id: 'Order',
  initial: 'idle',
  context: ({ input }) => ({ orderId: input.key, notes: 0, amount: 0 }),
  states: {
    idle: {
      on: {
        'order.placed': {
          target: 'awaitingPayment',
          actions: [
            assign({ amount: ({ event }) => Number((event as Ev).data.amount ?? 0) }),
            emit(({ context }) => ({ type: 'payment.requested', data: { orderId: context.orderId } })),
          ],
        },
      },
    },
    awaitingPayment: {
      entry: raise({ type: 'order.remind' }, { id: 'reminder', delay: 'remind' }),
      // Only `after` timers are cancelled by xstate when a state is left; a delayed raise needs its own cancel.
      exit: cancel('reminder'),
      after: { paymentTimeout: { target: 'compensating' } },
      on: {
        'order.remind': { actions: emit(({ context }) => ({ type: 'customer.reminded', data: { orderId: context.orderId } })) },
        'order.noted': { guard: 'notPoison', actions: assign({ notes: ({ context }) => context.notes + 1 }) },
        'order.cancel-reminder': { actions: cancel('reminder') },
        // Emits what it was given: lets a test make a step emit an event the log refuses (too large).
        'order.echo': { actions: emit(({ event }) => ({ type: 'order.echoed', data: { text: String((event as Ev).data.text) } })) },
        'payment.succeeded': {
          target: 'paid',
          actions: [emit(({ context }) => ({ type: 'order.confirmed', data: { orderId: context.orderId } }))],
        },
        'payment.failed': { target: 'compensating' },
      },
    },
    compensating: {
      tags: ['compensating'],
      entry: emit(({ context }) => ({ type: 'stock.release-requested', data: { orderId: context.orderId } })),
      on: { 'stock.released': 'compensated', 'order.noted': { guard: 'notPoison', actions: assign({ notes: ({ context }) => context.notes + 1 }) } },
    },
    paid: { type: 'final' },
    compensated: { type: 'final', tags: ['compensated'] },
  },
});

const byOrder = (e: { data: Record<string, unknown> }) => String(e.data.orderId);
const orderId = z.object({ orderId: z.string().min(1) });

/** The test saga definition. */
export const OrderSaga = defineSaga({
  name: 'Order',
  version: 1,
  machine: orderMachine,
  events: {
    'order.placed': orderId.extend({ amount: z.number().optional() }),
    'order.noted': orderId.extend({ poison: z.boolean().optional() }),
    'order.cancel-reminder': orderId,
    'order.echo': orderId.extend({ text: z.string() }),
    'payment.succeeded': orderId,
    'payment.failed': orderId,
    'stock.released': orderId,
  },
  correlate: {
    'order.placed': byOrder,
    'order.noted': byOrder,
    'order.cancel-reminder': byOrder,
    'order.echo': byOrder,
    'payment.succeeded': byOrder,
    'payment.failed': byOrder,
    'stock.released': byOrder,
  },
  startedBy: ['order.placed'],
  onMissing: 'dead-letter',
});
