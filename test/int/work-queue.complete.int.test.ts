import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { PostgresDeadLetters } from '../../src/postgres/dead-letters.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { PostgresWorkQueue } from '../../src/postgres/work-queue.js';
import { readToEnd } from '../support/event-store-suite.js';
import { pgTestDb, type TestDb } from '../support/postgres.js';
import { databaseUrl, hasPostgres } from '../support/services.js';

/** A committed `cmd.do` command of `worker` (registered), with no work item yet (as a step's commit leaves it). */
async function committedCommand(c: { store: PostgresEventStore; queue: PostgresWorkQueue }, worker: string): Promise<{ id: string; position: number }> {
  await c.queue.register({ name: worker, handles: ['cmd.do'], maxAttempts: 3 });
  const s = `cmd-${crypto.randomUUID()}`;
  const { events } = await c.store.append(s, [createEvent({ type: 'cmd.do', streamId: s, data: {} })]);
  return { id: events[0]!.id, position: events[0]!.position };
}

/** A work queue on a fresh schema for the enclosing describe block (its store, and the database). */
function freshQueue(): { t: TestDb; store: PostgresEventStore; queue: PostgresWorkQueue } {
  const c = {} as { t: TestDb; store: PostgresEventStore; queue: PostgresWorkQueue };
  beforeAll(async () => {
    c.t = await pgTestDb();
    c.store = new PostgresEventStore(c.t.db, { schema: c.t.schema });
    c.queue = new PostgresWorkQueue(c.t.db, c.store, new PostgresDeadLetters(c.t.db, { schema: c.t.schema }), { schema: c.t.schema });
  });
  afterAll(() => c.t.dispose());
  return c;
}

/**
 * A completion is one autocommit statement (the work item marked done and the replies appended): it must
 * hold the store's append lock from before its first write, or a gap-free reader could pass its replies
 * while it is still open (ADR 0006). Here a completion is held open mid-statement (blocked on its reply
 * stream's row) after it marked the work item done, i.e. after it got its transaction id; an event that
 * commits meanwhile, with a higher transaction id, must not be read until the completion ended.
 */
describe.runIf(hasPostgres())('work queue: completion in one statement (Postgres)', () => {
  const c = freshQueue();

  /** A command leased to a worker: its id and lease token. */
  async function leasedCommand(worker: string): Promise<{ eventId: string; leaseToken: string }> {
    const { leased: [leased] } = await c.queue.enqueue([{ worker, event: await committedCommand(c, worker), maxAttempts: 3, lease: { by: 'test', leaseMs: 60_000 } }]);
    return { eventId: leased!.eventId, leaseToken: leased!.leaseToken };
  }

  it('stores the replies and marks the command done together; a second answer stores nothing', async () => {
    const { eventId, leaseToken } = await leasedCommand('w-once');
    const s = `reply-${crypto.randomUUID()}`;
    const reply = createEvent({ type: 'cmd.done', streamId: s, data: {} });
    expect((await c.queue.complete('w-once', eventId, leaseToken, [reply]))?.type).toBe('cmd.do');
    expect(await c.queue.complete('w-once', eventId, leaseToken, [createEvent({ type: 'cmd.done', streamId: s, data: {} })])).toBeUndefined();
    expect((await c.store.readStream(s)).map((e) => e.id)).toEqual([reply.id]);
  });

  it('a wrong lease token stores no reply', async () => {
    const { eventId } = await leasedCommand('w-token');
    const s = `reply-${crypto.randomUUID()}`;
    expect(await c.queue.complete('w-token', eventId, crypto.randomUUID(), [createEvent({ type: 'cmd.done', streamId: s, data: {} })])).toBeUndefined();
    expect(await c.store.streamVersion(s)).toBe(0);
  });

  it('holds readers back while it is open, so an event committed after it began is not read before its replies', async () => {
    const { eventId, leaseToken } = await leasedCommand('w-gap');
    const replyStream = `reply-${crypto.randomUUID()}`;
    await c.store.append(replyStream, [createEvent({ type: 'cmd.note', streamId: replyStream, data: {} })]);
    const { next: start } = await readToEnd(c.store);
    const blocker = new pg.Client({ connectionString: databaseUrl });
    await blocker.connect();
    try {
      // Holds the reply stream's row: the completion blocks there, after it marked its work item done.
      await blocker.query('BEGIN');
      await blocker.query(`UPDATE ${quoteSchema(c.t.schema)}.streams SET updated_at = now() WHERE stream_id = $1`, [replyStream]);
      const { rows: [held] } = await blocker.query<{ x: string }>('SELECT mod(pg_current_xact_id()::text::numeric, 4294967296)::text AS x');
      const reply = createEvent({ type: 'cmd.done', streamId: replyStream, data: {} });
      const completing = c.queue.complete('w-gap', eventId, leaseToken, [reply]);
      // Blocked: someone waits for the blocker's transaction, and only the completion can (a completion that
      // ended instead, without waiting, fails here at once with its outcome). Not by pg_stat_activity's text: a
      // prepared statement run again on its connection may show the previous statement there.
      let ended: string | undefined;
      void completing.then((v) => (ended = `returned ${String(v)}`), (err: unknown) => (ended = `failed: ${String(err)}`));
      await waitUntil(async () => {
        if (ended !== undefined) throw new Error(`the completion did not wait for the reply stream's row: it ${ended}`);
        const { rows } = await blocker.query(
          `SELECT 1 FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted AND transactionid::text = $1`,
          [held!.x],
        );
        return rows.length > 0;
      }, 15_000);
      const later = `later-${crypto.randomUUID()}`;
      const laterEvent = createEvent({ type: 'cmd.note', streamId: later, data: {} });
      await c.store.append(later, [laterEvent]);
      // Committed (the control), and still not read: the open completion holds the bound below it.
      expect(await c.store.streamVersion(later)).toBe(1);
      expect((await readToEnd(c.store, start)).ids).not.toContain(laterEvent.id);
      await blocker.query('ROLLBACK');
      expect((await completing)?.type).toBe('cmd.do');
      expect((await readToEnd(c.store, start)).ids).toEqual([reply.id, laterEvent.id]);
    } finally {
      await blocker.end();
    }
  });
});

describe.runIf(hasPostgres())('work queue: completion of a command handed before it was recorded (Postgres, ADR 0018)', () => {
  const c = freshQueue();

  const command = (worker: string) => committedCommand(c, worker);
  const item = async (worker: string, eventId: string) => (await c.t.db.query<{ outcome: string | null; attempts: number; lease_token: string | null }>(
    `SELECT outcome, attempts, lease_token::text FROM ${quoteSchema(c.t.schema)}.work_items WHERE worker = $1 AND event_id = $2`, [worker, eventId])).rows;

  it('records the item completed with the replies when the feed has not recorded it; the feed\'s late record and a second answer change nothing', async () => {
    const cmd = await command('e-first');
    const token = crypto.randomUUID();
    const early = { worker: 'e-first', event: cmd, maxAttempts: 3, lease: { by: 'p1', leaseMs: 60_000, token } };
    const s = `reply-${crypto.randomUUID()}`;
    const reply = createEvent({ type: 'cmd.done', streamId: s, data: {} });
    expect((await c.queue.complete('e-first', cmd.id, token, [reply], early))?.type).toBe('cmd.do');
    expect(await item('e-first', cmd.id)).toEqual([{ outcome: 'completed', attempts: 1, lease_token: null }]);
    // The feed reads the command's page afterwards: its record (leased with the token) finds the row and leases nothing.
    expect((await c.queue.enqueue([{ worker: 'e-first', event: cmd, maxAttempts: 3, lease: { by: 'p1', leaseMs: 60_000, token } }])).leased).toEqual([]);
    expect((await c.queue.enqueue([{ worker: 'e-first', event: cmd, maxAttempts: 3 }])).leased).toEqual([]);
    expect(await c.queue.claim('e-first', { max: 10, leaseMs: 60_000, by: 'p2' })).toEqual([]);
    expect(await c.queue.complete('e-first', cmd.id, token, [createEvent({ type: 'cmd.done', streamId: s, data: {} })], early)).toBeUndefined();
    expect((await c.store.readStream(s)).map((e) => e.id)).toEqual([reply.id]);
    expect(await item('e-first', cmd.id)).toEqual([{ outcome: 'completed', attempts: 1, lease_token: null }]);
  });

  it('completes the item as usual when it was recorded first, leased with the token it was handed with', async () => {
    const cmd = await command('e-recorded');
    const token = crypto.randomUUID();
    const { leased: [leased] } = await c.queue.enqueue([{ worker: 'e-recorded', event: cmd, maxAttempts: 3, lease: { by: 'p1', leaseMs: 60_000, token } }]);
    expect(leased?.leaseToken).toBe(token);
    expect((await c.queue.complete('e-recorded', cmd.id, token, [], { worker: 'e-recorded', event: cmd, maxAttempts: 3, lease: { by: 'p1', leaseMs: 60_000, token } }))?.type).toBe('cmd.do');
    expect(await item('e-recorded', cmd.id)).toEqual([{ outcome: 'completed', attempts: 1, lease_token: null }]);
  });

  it('stores nothing when the item was recorded without its token (the feed of another daemon, or a lease lost since)', async () => {
    const cmd = await command('e-lost');
    await c.queue.enqueue([{ worker: 'e-lost', event: cmd, maxAttempts: 3 }]);
    const [claimed] = await c.queue.claim('e-lost', { max: 1, leaseMs: 60_000, by: 'p2' });
    expect(claimed?.command.id).toBe(cmd.id);
    const s = `reply-${crypto.randomUUID()}`;
    const token = crypto.randomUUID();
    const early = { worker: 'e-lost', event: cmd, maxAttempts: 3, lease: { by: 'p1', leaseMs: 60_000, token } };
    expect(await c.queue.complete('e-lost', cmd.id, token, [createEvent({ type: 'cmd.done', streamId: s, data: {} })], early)).toBeUndefined();
    expect(await c.store.streamVersion(s)).toBe(0);
    expect(await item('e-lost', cmd.id)).toEqual([{ outcome: null, attempts: 1, lease_token: claimed!.leaseToken }]);
    expect((await c.queue.complete('e-lost', cmd.id, claimed!.leaseToken, []))?.type).toBe('cmd.do');
  });
});

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
