/**
 * The files `sagaflow init` writes: a project with one saga (events, machine, definition, test) and one
 * worker, which passes its test and runs with `sagaflow run`. Kept as strings so they ship inside `dist/`.
 */

/** One scaffolded file: its path relative to the project and its text. */
export interface ScaffoldFile {
  path: string;
  text: string;
}

const yaml = `# sagaflow configuration (see sagaflow's docs/configuration.md). Environment variables override it.
# Without DATABASE_URL the daemon uses embedded PGlite in .sagaflow/.
sagas: ./sagas/index.ts
# database:
#   url: postgres://user@127.0.0.1:5432/app
`;

const index = `/**
 * The sagas module the daemon loads (sagaflow.yaml \`sagas:\`): every saga (defineSaga) and every in-process
 * worker (defineHandler) it exports runs in the daemon.
 */
export { OrderSaga } from './order/index.js';
export { payments } from './order/payments.js';
`;

const events = `import { z } from 'zod';

/** The events the Order saga handles, with the schemas of their \`data\` (published events are checked against them). */
export const orderEvents = {
  'order.placed': z.object({ orderId: z.string().min(1), amount: z.number().positive() }),
  'payment.succeeded': z.object({ orderId: z.string().min(1), paymentId: z.string().min(1) }),
  'payment.failed': z.object({ orderId: z.string().min(1), reason: z.string() }),
};

type Data<T extends keyof typeof orderEvents> = z.infer<(typeof orderEvents)[T]>;

/** The xstate event the machine receives for each domain event. */
export type OrderEvent = { [T in keyof typeof orderEvents]: { type: T; data: Data<T> } }[keyof typeof orderEvents];

/** Each event finds its instance by \`data.orderId\`. */
export const orderCorrelate = {
  'order.placed': (e: { data: Record<string, unknown> }) => String(e.data.orderId),
  'payment.succeeded': (e: { data: Record<string, unknown> }) => String(e.data.orderId),
  'payment.failed': (e: { data: Record<string, unknown> }) => String(e.data.orderId),
};
`;

const machine = `import { assign, emit, setup } from 'xstate';
import type { OrderEvent } from './events.js';

/** How long a payment may take before the order is cancelled. */
export const PAYMENT_TIMEOUT_MS = 60_000;

export interface OrderContext {
  orderId: string;
  amount: number;
  paymentId: string | null;
  cancelReason: string | null;
}

/**
 * order.placed → request the payment (a command the payments worker answers) → payment.succeeded → confirmed;
 * payment.failed or no answer within PAYMENT_TIMEOUT_MS → cancelled. Effects are described (emit, after), never
 * performed here: sagaflow stores them with the step.
 */
export const orderMachine = setup({
  types: { context: {} as OrderContext, events: {} as OrderEvent, input: {} as { key: string } },
  delays: { paymentTimeout: PAYMENT_TIMEOUT_MS },
}).createMachine({
  id: 'Order',
  context: ({ input }) => ({ orderId: input.key, amount: 0, paymentId: null, cancelReason: null }),
  initial: 'new',
  states: {
    new: {
      on: {
        'order.placed': {
          target: 'awaitingPayment',
          actions: assign({ amount: ({ event }) => (event.type === 'order.placed' ? event.data.amount : 0) }),
        },
      },
    },
    awaitingPayment: {
      entry: emit(({ context }) => ({ type: 'payment.requested', data: { orderId: context.orderId, amount: context.amount } })),
      after: { paymentTimeout: { target: 'cancelled', actions: assign({ cancelReason: 'payment timed out' }) } },
      on: {
        'payment.succeeded': {
          target: 'confirmed',
          actions: assign({ paymentId: ({ event }) => (event.type === 'payment.succeeded' ? event.data.paymentId : null) }),
        },
        'payment.failed': {
          target: 'cancelled',
          actions: assign({ cancelReason: ({ event }) => (event.type === 'payment.failed' ? event.data.reason : 'payment failed') }),
        },
      },
    },
    confirmed: {
      type: 'final',
      entry: emit(({ context }) => ({ type: 'order.confirmed', data: { orderId: context.orderId, paymentId: context.paymentId } })),
    },
    cancelled: {
      type: 'final',
      tags: ['compensated'],
      entry: emit(({ context }) => ({ type: 'order.cancelled', data: { orderId: context.orderId, reason: context.cancelReason } })),
    },
  },
});
`;

const sagaIndex = `import { defineSaga } from 'sagaflow';
import { orderCorrelate, orderEvents } from './events.js';
import { orderMachine } from './machine.js';

/** The Order saga: one instance per \`orderId\`. */
export const OrderSaga = defineSaga({
  name: 'Order',
  version: 1,
  machine: orderMachine,
  events: orderEvents,
  correlate: orderCorrelate,
  startedBy: ['order.placed'],
  // A payment answer for an order this saga never saw is kept for an operator (sagaflow dlq list).
  onMissing: 'dead-letter',
});
`;

const payments = `import { defineHandler } from 'sagaflow';
import { z } from 'zod';

/**
 * The payments service, as a worker: answers each \`payment.requested\` with \`payment.succeeded\` or
 * \`payment.failed\`. Exported from sagas/index.ts it runs inside the daemon; to run it in a process of its
 * own, see worker.ts. \`ctx.idempotencyKey\` is the same on every delivery of one command.
 */
export const payments = defineHandler({
  name: 'payments',
  handles: 'payment.requested',
  schema: z.object({ orderId: z.string(), amount: z.number() }),
  handle: async (command, ctx) => {
    const { orderId, amount } = command.data;
    if (amount > 1000) return { type: 'payment.failed', data: { orderId, reason: 'amount over the card limit' } };
    return { type: 'payment.succeeded', data: { orderId, paymentId: \`pay-\${ctx.idempotencyKey.slice(0, 8)}\` } };
  },
});
`;

const test = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runHandler, sagaSpec } from 'sagaflow/testing';
import { OrderSaga, PAYMENT_TIMEOUT_MS } from './index.js';
import { payments } from './payments.js';

test('an order is confirmed when its payment succeeds', async () => {
  const spec = sagaSpec(OrderSaga);
  await spec.when({ type: 'order.placed', data: { orderId: 'o-1', amount: 20 } });
  spec.thenExpect({ state: 'awaitingPayment', status: 'running', emitted: ['payment.requested'] });
  await spec.when({ type: 'payment.succeeded', data: { orderId: 'o-1', paymentId: 'p-1' } });
  spec.thenExpect({ state: 'confirmed', status: 'completed', emitted: ['order.confirmed'], context: { paymentId: 'p-1' } });
});

test('an order is cancelled when the payment does not come in time', async () => {
  const spec = sagaSpec(OrderSaga);
  await spec.given({ type: 'order.placed', data: { orderId: 'o-2', amount: 20 } });
  await spec.advanceTime(PAYMENT_TIMEOUT_MS);
  spec.thenExpect({ state: 'cancelled', emitted: ['order.cancelled'], context: { cancelReason: 'payment timed out' } });
});

test('the payments worker pays small amounts and declines large ones', async () => {
  const [paid] = await runHandler(payments, { type: 'payment.requested', data: { orderId: 'o-3', amount: 20 } });
  assert.equal(paid?.type, 'payment.succeeded');
  const [declined] = await runHandler(payments, { type: 'payment.requested', data: { orderId: 'o-4', amount: 5000 } });
  assert.equal(declined?.type, 'payment.failed');
});
`;

const orderIndexReexport = `export { PAYMENT_TIMEOUT_MS, orderMachine, type OrderContext } from './machine.js';
`;

const worker = `/**
 * The payments worker in a process of its own, against a running daemon's HTTP API (no database, no Redis):
 *   SAGAFLOW_API_TOKEN=$(cat .sagaflow/api-token) node --import tsx worker.ts
 * Remove \`payments\` from sagas/index.ts first if only this process should answer.
 */
import { createWorker } from 'sagaflow/worker';
import { payments } from './sagas/order/payments.js';

const token = process.env.SAGAFLOW_API_TOKEN;
if (!token) {
  console.error('set SAGAFLOW_API_TOKEN (the daemon prints where its token is; on the embedded default: .sagaflow/api-token)');
  process.exit(2);
}
const worker = createWorker({ url: process.env.SAGAFLOW_URL ?? 'http://127.0.0.1:7070', token, handlers: [payments] });
await worker.start();
console.log('payments worker running; Ctrl-C to stop');
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void worker.stop().then(() => process.exit(0)));
}
`;

const readme = `# sagaflow project

Made by \`sagaflow init\`: one saga (\`sagas/order\`) and one worker (\`payments\`).

    npm test                        # the saga's and the worker's tests (node:test, TypeScript through tsx)
    npx sagaflow run                # the daemon: embedded PGlite in .sagaflow/, this project's sagas and workers
    npx sagaflow publish order.placed --data '{"orderId":"o-1","amount":20}' --reason 'first order'
    npx sagaflow sagas show Order o-1

The daemon answers \`payment.requested\` with the in-process \`payments\` worker; \`worker.ts\` runs the same
handler in a process of its own. Read sagaflow's docs/sagas.md and docs/workers.md.
`;

/** Everything `sagaflow init` writes. */
export function scaffoldFiles(): ScaffoldFile[] {
  return [
    { path: 'sagaflow.yaml', text: yaml },
    { path: 'sagas/index.ts', text: index },
    { path: 'sagas/order/events.ts', text: events },
    { path: 'sagas/order/machine.ts', text: machine },
    { path: 'sagas/order/index.ts', text: `${sagaIndex}${orderIndexReexport}` },
    { path: 'sagas/order/payments.ts', text: payments },
    { path: 'sagas/order/order.test.ts', text: test },
    { path: 'worker.ts', text: worker },
    { path: 'SAGAFLOW.md', text: readme },
  ];
}

/** The scripts `sagaflow init` adds to package.json (those not set already). */
export const scaffoldScripts: Record<string, string> = {
  test: 'node --import tsx --test sagas/order/order.test.ts',
  start: 'sagaflow run',
};
