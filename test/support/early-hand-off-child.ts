/**
 * A daemon with an in-process payments handler that dies holding a command handed early (ADR 0018), run as
 * `node --conditions=sagaflow-source --import tsx test/support/early-hand-off-child.ts`.
 * Env: SAGAFLOW_TEST_DATABASE_URL, CRASH_SCHEMA (joined, not dropped), CRASH_ORDER (the order to place).
 * The handler, given the order's `payment.requested`, prints one JSON line with how many work items the command
 * had then (0: handed before the worker feed recorded it), waits past the feed's checkpoint save (250 ms
 * throttle) and below its upkeep's recording of early commands (1 s), and SIGKILLs its process.
 */
import { defineHandler } from '../../src/core/worker/define-handler.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { PgDb } from '../../src/postgres/pg-db.js';
import { openTestDaemon } from './test-daemon.js';
import { OrderSaga } from './test-saga.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const schema = env('CRASH_SCHEMA');
const order = env('CRASH_ORDER');
const db = new PgDb({ connectionString: env('SAGAFLOW_TEST_DATABASE_URL'), max: 1 });

const payments = defineHandler({
  name: 'payments',
  handles: 'payment.requested',
  handle: async (command) => {
    if (command.data.orderId !== order) return { type: 'payment.succeeded', data: { orderId: String(command.data.orderId) } };
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteSchema(schema)}.work_items WHERE event_id = $1`, [command.id]);
    process.stdout.write(`${JSON.stringify({ command: command.id, workItems: rows[0]!.n })}\n`);
    await new Promise((r) => setTimeout(r, 600));
    process.kill(process.pid, 'SIGKILL');
    return await new Promise<never>(() => {});
  },
});

const { daemon } = await openTestDaemon('postgres', { name: 'early-crash', schema, sagas: [OrderSaga], handlers: [payments] });
await daemon.engine.operator.publish({ type: 'order.placed', data: { orderId: order }, streamId: order });
