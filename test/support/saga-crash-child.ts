/**
 * A saga process for crash tests, run as `node --conditions=sagaflow-source --import tsx test/support/saga-crash-child.ts`.
 * Env: SAGAFLOW_TEST_DATABASE_URL, CRASH_SCHEMA, CRASH_ORDER (instance key), CRASH_BUS_FILE (the "transport":
 * each relayed event is appended as a JSON line), CRASH_ACTION ('step' | 'relay'), and CRASH_AT, the named
 * point where the process SIGKILLs itself:
 *   'after-commit'  — the step committed (its emitted event is in the log), nothing relayed yet;
 *   'after-publish' — the relay handed the page to the transport, its checkpoint is not saved yet.
 * The relay is the daemon's own: the durable bus's log follower with Postgres checkpoints.
 */
import { appendFileSync } from 'node:fs';
import { createDurableBus } from '../../src/core/bus/durable-bus.js';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import type { EventBus } from '../../src/core/ports/event-bus.js';
import { PostgresCheckpoints } from '../../src/postgres/checkpoints.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { PgDb } from '../../src/postgres/pg-db.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { OrderSaga } from './test-saga.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const crashAt = process.env.CRASH_AT ?? '';
const crash = (point: string) => {
  if (crashAt === point) process.kill(process.pid, 'SIGKILL');
};

const db = new PgDb({ connectionString: env('SAGAFLOW_TEST_DATABASE_URL'), max: 2 });
const schema = env('CRASH_SCHEMA');
const store = new PostgresEventStore(db, { schema });
const repository = new PostgresSagaRepository(db, { schema, store });
const busFile = env('CRASH_BUS_FILE');
const transport: EventBus = {
  async publish(events: EventEnvelope | EventEnvelope[]) {
    for (const e of [events].flat()) appendFileSync(busFile, `${JSON.stringify(e)}\n`);
    crash('after-publish');
  },
  subscribe: () => Promise.reject(new Error('not used')),
  start: async () => {},
  stop: async () => {},
};

if (env('CRASH_ACTION') === 'step') {
  const runtime = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
  await runtime.handle(createEvent({ type: 'order.placed', data: { orderId: env('CRASH_ORDER') } }));
  crash('after-commit');
} else {
  const bus = createDurableBus({ store, transport, checkpoints: new PostgresCheckpoints(db, { schema }) });
  await bus.relay.runOnce();
}
await db.close();
