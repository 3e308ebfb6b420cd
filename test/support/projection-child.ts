/**
 * A daemon process keeping one slow projection, for the projection crash test, run as
 * `node --conditions=sagaflow-source --import tsx test/support/projection-child.ts`.
 * Env: SAGAFLOW_TEST_DATABASE_URL, CRASH_SCHEMA. The projection records each event it applies as a row of
 * `<schema>.crash_rows` (no unique key: a second apply would be a second row) and takes a few milliseconds per
 * event, so a SIGKILL lands in the middle of a page's transaction. It prints `ready <instanceId>` once started.
 */
import { loadConfig } from '../../src/config/load-config.js';
import { defineProjection } from '../../src/core/sourcing/projection.js';
import { startDaemon } from '../../src/daemon/daemon.js';

const slow = defineProjection({
  name: 'crash-rows',
  handles: 'item.*',
  // The negative control: CRASH_DELIVERY=at-least-once (writes outside the page's transaction) makes the test fail.
  delivery: process.env.CRASH_DELIVERY === 'at-least-once' ? 'at-least-once' : 'transactional',
  setup: async ({ db, schema }) => void (await db.query(`CREATE TABLE IF NOT EXISTS ${schema}.crash_rows (seq bigserial, event_id uuid NOT NULL, by text NOT NULL)`)),
  apply: async (event, { db, schema }) => {
    await db.query(`INSERT INTO ${schema}.crash_rows (event_id, by) VALUES ($1, $2)`, [event.id, String(process.pid)]);
    await new Promise((r) => setTimeout(r, 4));
  },
});

const { config } = loadConfig({
  env: {},
  cwd: process.cwd(),
  flags: {
    'store.type': 'postgres', 'database.url': process.env.SAGAFLOW_TEST_DATABASE_URL, 'database.schema': process.env.CRASH_SCHEMA,
    'bus.type': 'memory', 'http.port': 0, 'http.token': 'crash-test-token-0123456789', 'log.level': process.env.CRASH_LOG ?? 'silent',
    'processing.leaseTtlMs': 1000, 'processing.batchSize': 40,
  },
});
const daemon = await startDaemon({ config, sagas: [], projections: [slow] });
process.stdout.write(`ready ${daemon.engine.instanceId}\n`);
