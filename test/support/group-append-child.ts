/**
 * A publisher process for the group-commit crash test, run as `node --conditions=sagaflow-source --import tsx test/support/group-append-child.ts`.
 * Env: SAGAFLOW_TEST_DATABASE_URL, CRASH_SCHEMA, CRASH_AT ('after-commit': SIGKILL itself once a group of more
 * than one append committed, before any caller of it is resolved; otherwise run until killed from outside).
 * 32 concurrent publishers append one event each, in a loop, through the daemon's GroupAppender. Each event id
 * is written to stdout as `resolved <id>` (synchronously) the moment its append resolves.
 */
import { writeSync } from 'node:fs';
import { createEvent } from '../../src/core/events/envelope.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { GroupAppender } from '../../src/postgres/group-appender.js';
import { PgDb } from '../../src/postgres/pg-db.js';

const url = process.env.SAGAFLOW_TEST_DATABASE_URL;
const schema = process.env.CRASH_SCHEMA;
if (!url || !schema) throw new Error('SAGAFLOW_TEST_DATABASE_URL and CRASH_SCHEMA must be set');
const db = new PgDb({ connectionString: url, max: 4 });
const store = new PostgresEventStore(db, { schema });
const appender = new GroupAppender(store, db, {
  afterCommit: (size) => {
    if (process.env.CRASH_AT === 'after-commit' && size > 1) process.kill(process.pid, 'SIGKILL');
  },
});
writeSync(1, 'ready\n');
await Promise.all(
  Array.from({ length: 32 }, async (_, w) => {
    for (let i = 0; ; i++) {
      const e = createEvent({ type: 'task.created', streamId: `crash-${w}`, data: { w, i } });
      await appender.append(e.streamId, [e]);
      writeSync(1, `resolved ${e.id}\n`);
    }
  }),
);
