import { afterEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../src/core/events/envelope.js';
import { createEvent } from '../../src/core/events/envelope.js';
import { ErrorCode } from '../../src/core/errors.js';
import type { Queryable } from '../../src/core/ports/db.js';
import { defineProjection, type ProjectionDefinition } from '../../src/core/sourcing/projection.js';
import { projectionLease } from '../../src/runtime/projection-runner.js';
import { hasPostgres } from '../support/services.js';
import { pgExtraDb } from '../support/postgres.js';
import { waitFor as waitUntil } from '../support/wait-for.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';

const waitFor = <T>(what: string, probe: () => Promise<T | undefined | false>) => waitUntil(what, probe, 60_000);

/**
 * Projections on a real daemon (PGlite and Postgres): catch-up then live through the one log follower, each
 * event applied once (rows counted, no unique key to hide a second apply), reset and rebuild, replays only
 * where opted in, one active instance across two daemons.
 */


/** A projection that records every event it applies as a row (no key: a second apply is a second row). */
function recorder(name: string, options: { replay?: boolean; start?: ProjectionDefinition['start'] } = {}): ProjectionDefinition {
  const table = name.replace(/-/g, '_');
  return defineProjection({
    name,
    handles: 'item.*',
    ...(options.replay ? { replay: true } : {}),
    ...(options.start ? { start: options.start } : {}),
    setup: async ({ db, schema }) => {
      await db.query(`CREATE TABLE IF NOT EXISTS ${schema}.${table} (seq bigserial, event_id uuid NOT NULL, position bigint NOT NULL, replay boolean NOT NULL)`);
    },
    reset: async ({ db, schema }) => {
      await db.query(`DELETE FROM ${schema}.${table}`);
    },
    apply: async (event, { db, schema, replay }) => {
      await db.query(`INSERT INTO ${schema}.${table} (event_id, position, replay) VALUES ($1, $2, $3)`, [event.id, event.position, replay]);
    },
  });
}

const counts = async (db: Queryable, schema: string, table: string) => {
  const { rows } = await db.query<{ n: number; distinct: number; replays: number }>(
    `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct, count(*) FILTER (WHERE replay)::int AS replays FROM ${schema}.${table}`,
  );
  return rows[0]!;
};

const items = (n: number, from = 0): EventEnvelope[] => Array.from({ length: n }, (_, i) => createEvent({ type: i % 5 === 4 ? 'other.thing' : 'item.added', streamId: `item-${from + i}`, data: { n: from + i } }));
const itemCount = (events: EventEnvelope[]) => events.filter((e) => e.type.startsWith('item.')).length;

const open: TestDaemon[] = [];
afterEach(async () => {
  for (const d of open.splice(0).reverse()) await d.dispose();
});

const stores = ['pglite', ...(hasPostgres() ? ['postgres' as const] : [])] as const;

describe.each(stores)('projections on %s', { timeout: 90_000 }, (store) => {
  const start = async (projections: ProjectionDefinition[], schema?: string) => {
    const d = await openTestDaemon(store, { name: 'projections', sagas: [], projections, flags: { 'processing.leaseTtlMs': 900 }, ...(schema ? { schema } : {}) });
    open.push(d);
    return d;
  };
  const q = (d: TestDaemon) => d.daemon.database.db;
  const s = (d: TestDaemon) => (store === 'pglite' ? '"sagaflow"' : `"${d.schema}"`);

  it('catches up, follows live, and applies each event once; status shows position and lag 0', async () => {
    const d = await start([recorder('rec')]);
    const first = items(40);
    for (const e of first) await d.daemon.engine.operator.publish({ type: e.type, streamId: e.streamId, data: e.data });
    await waitFor('the first 32 items', async () => (await counts(q(d), s(d), 'rec')).n === itemCount(first));
    const more = items(20, 40);
    await Promise.all(more.map((e) => d.daemon.engine.operator.publish({ type: e.type, streamId: e.streamId, data: e.data })));
    const total = itemCount(first) + itemCount(more);
    await waitFor('all items', async () => (await counts(q(d), s(d), 'rec')).n === total);
    await new Promise((r) => setTimeout(r, 300));
    expect(await counts(q(d), s(d), 'rec')).toEqual({ n: total, distinct: total, replays: 0 });
    // Applied in log order.
    const { rows } = await q(d).query<{ position: string }>(`SELECT position FROM ${s(d)}.rec ORDER BY seq`);
    const positions = rows.map((r) => Number(r.position));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    const status = await waitFor('lag 0', async () => {
      const st = await d.daemon.engine.operator.projectionStatus('rec');
      return st.lag === 0 ? st : undefined;
    });
    expect(status.owner).toBeDefined();
    expect(status.position).toBeGreaterThan(0);
    expect((await d.daemon.engine.operator.listProjections()).map((p) => p.name)).toEqual(['rec']);
    await expect(d.daemon.engine.operator.projectionStatus('nope')).rejects.toMatchObject({ code: ErrorCode.NotFound });
  });

  it('reset empties it and the daemon builds it again; rebuild does it here under the lease', async () => {
    const d = await start([recorder('rec')]);
    const events = items(30);
    for (const e of events) await d.daemon.engine.operator.publish({ type: e.type, streamId: e.streamId, data: e.data });
    const n = itemCount(events);
    await waitFor('all items', async () => (await counts(q(d), s(d), 'rec')).n === n);

    const reset = await d.daemon.engine.operator.resetProjection('rec');
    expect(reset.lag).toBeGreaterThanOrEqual(events.length);
    await waitFor('the rebuilt items after reset', async () => (await counts(q(d), s(d), 'rec')).n === n);

    const progress: number[] = [];
    const rebuilt = await d.daemon.engine.operator.rebuildProjection('rec', { onProgress: (p) => progress.push(p.lag) });
    expect(rebuilt.lag).toBe(0);
    expect(progress[0]).toBeGreaterThanOrEqual(events.length);
    expect(progress.at(-1)).toBe(0);
    await new Promise((r) => setTimeout(r, 500));
    expect(await counts(q(d), s(d), 'rec')).toEqual({ n, distinct: n, replays: 0 });
  });

  it('replays reach only the projections and bus handlers that opted in, marked', async () => {
    const d = await start([recorder('rec'), recorder('rec-replay', { replay: true })]);
    const live: string[] = [];
    const replayed: string[] = [];
    const { bus } = d.daemon.engine;
    await bus!.subscribe('item.*', (e) => void live.push(e.id), { group: 'no-replays' });
    await bus!.subscribe('item.*', (e) => void (e.metadata.replay ? replayed.push(e.id) : undefined), { group: 'replays', replay: true });
    const events = items(10);
    for (const e of events) await d.daemon.engine.operator.publish({ type: e.type, streamId: e.streamId, data: e.data });
    const n = itemCount(events);
    await waitFor('live delivery', async () => live.length === n && (await counts(q(d), s(d), 'rec_replay')).n === n);

    const dry = await d.daemon.engine.operator.replayEvents({ target: { bus: true }, types: ['item.*'], dryRun: true });
    expect(dry.matched).toBe(n);
    expect(replayed).toEqual([]);
    const sent = await d.daemon.engine.operator.replayEvents({ target: { bus: true }, types: ['item.*'], dryRun: false });
    expect(sent).toMatchObject({ matched: n, target: 'bus', byType: [{ type: 'item.added', count: n }] });
    await waitFor('replays on the opted-in handler', async () => replayed.length === n);
    await new Promise((r) => setTimeout(r, 200));
    expect(live).toHaveLength(n); // the handler that did not opt in saw no replay

    await expect(d.daemon.engine.operator.replayEvents({ target: { projection: 'rec' }, dryRun: false })).rejects.toMatchObject({ code: ErrorCode.InvalidState });
    const toProjection = await d.daemon.engine.operator.replayEvents({ target: { projection: 'rec-replay' }, from: { position: 1 }, dryRun: false });
    expect(toProjection.matched).toBe(n);
    expect(await counts(q(d), s(d), 'rec_replay')).toEqual({ n: 2 * n, distinct: n, replays: n });
    expect((await counts(q(d), s(d), 'rec')).n).toBe(n);
  });

  it('a transactional page that fails applies nothing of itself, and the projection resumes after it', async () => {
    let failures = 2;
    const flaky = defineProjection({
      name: 'flaky',
      handles: 'item.*',
      setup: async ({ db, schema }) => void (await db.query(`CREATE TABLE IF NOT EXISTS ${schema}.flaky (seq bigserial, event_id uuid NOT NULL)`)),
      apply: async (event, { db, schema }) => {
        await db.query(`INSERT INTO ${schema}.flaky (event_id) VALUES ($1)`, [event.id]);
        if (event.data.n === 7 && failures > 0) {
          failures--;
          throw new Error('flaky apply');
        }
      },
    });
    const d = await start([flaky]);
    const events = items(12);
    await d.daemon.engine.store.append('batch', events.map((e) => ({ ...e, streamId: 'batch' })));
    const n = itemCount(events);
    await waitFor('all items after the retries', async () => (await q(d).query<{ n: number }>(`SELECT count(*)::int AS n FROM ${s(d)}.flaky`)).rows[0]!.n === n);
    const { rows } = await q(d).query<{ n: number; distinct: number }>(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct FROM ${s(d)}.flaky`);
    expect(rows[0]).toEqual({ n, distinct: n });
    expect(failures).toBe(0);
  });
});

describe.skipIf(!hasPostgres())('projection start points on postgres', { timeout: 90_000 }, () => {
  it('a projection starts at the beginning, now, or a position of the log that existed before it', async () => {
    const a = await openTestDaemon('postgres', { name: 'projstart', sagas: [] });
    open.push(a);
    const history = items(10);
    await a.daemon.engine.store.append('history', history.map((e) => ({ ...e, streamId: 'history' })));
    const stored = await a.daemon.engine.store.readStream('history');
    const third = stored[2]!.position;
    const b = await openTestDaemon('postgres', {
      name: 'projstart', sagas: [], schema: a.schema,
      projections: [recorder('from-start'), recorder('from-now', { start: 'now' }), recorder('from-third', { start: { position: third } })],
    });
    open.push(b);
    // "now" is when it first runs: wait for that before the later events.
    await waitFor('from-now to start', async () => (await b.daemon.engine.operator.projectionStatus('from-now')).cursor !== undefined);
    const later = items(5, 100);
    for (const e of later) await b.daemon.engine.operator.publish({ type: e.type, streamId: e.streamId, data: e.data });
    const schema = `"${a.schema}"`;
    const n = (events: EventEnvelope[]) => itemCount(events);
    await waitFor('all three', async () => {
      const [s1, s2, s3] = await Promise.all(['from_start', 'from_now', 'from_third'].map((t) => counts(b.daemon.database.db, schema, t).catch(() => ({ n: -1 }))));
      return s1!.n === n(history) + n(later) && s2!.n === n(later) && s3!.n === n(history.slice(2)) + n(later);
    });
  });

  it('the example task-status projection counts tasks per status', async () => {
    const { taskStatusProjection } = await import('../../sagas/task-status-projection.js');
    const d = await openTestDaemon('postgres', { name: 'taskstatus', sagas: [], projections: [taskStatusProjection] });
    open.push(d);
    const publish = (type: string, data: Record<string, unknown>) => d.daemon.engine.operator.publish({ type, data });
    for (const id of ['t1', 't2', 't3']) await publish('task.created', { taskId: id, taskType: 'review' });
    await publish('agent.assigned', { taskId: 't2', agentId: 'a' });
    await publish('task.completed', { taskId: 't1' });
    const byStatus = async () => Object.fromEntries((await d.daemon.database.db.query<{ status: string; n: number }>(
      `SELECT status, count(*)::int AS n FROM "${d.schema}".task_status GROUP BY status ORDER BY status`)).rows.map((r) => [r.status, r.n]));
    await waitFor('the counts', async () => JSON.stringify(await byStatus().catch(() => ({}))) === JSON.stringify({ assigned: 1, completed: 1, open: 1 }));
  });
});

describe.skipIf(!hasPostgres())('projections across daemons on postgres', { timeout: 90_000 }, () => {
  it('exactly one daemon runs a projection; the other takes it over when the first stops', async () => {
    const a = await openTestDaemon('postgres', { name: 'proj2', sagas: [], projections: [recorder('rec')], flags: { 'processing.leaseTtlMs': 900 } });
    open.push(a);
    const b = await openTestDaemon('postgres', { name: 'proj2', sagas: [], projections: [recorder('rec')], flags: { 'processing.leaseTtlMs': 900 }, schema: a.schema });
    open.push(b);
    const db = pgExtraDb(2);
    const schema = `"${a.schema}"`;
    const owners = async () => (await db.query<{ owner: string | null }>(`SELECT owner FROM ${schema}.leases WHERE name = $1 AND expires_at > now()`, [projectionLease('rec')])).rows.map((r) => r.owner);
    const events = items(40);
    for (const e of events.slice(0, 20)) await a.daemon.engine.operator.publish({ type: e.type, streamId: e.streamId, data: e.data });
    const firstOwner = await waitFor('an owner', async () => (await owners())[0] ?? undefined);
    expect(await owners()).toHaveLength(1);
    await waitFor('the first half', async () => (await counts(db, schema, 'rec')).n === itemCount(events.slice(0, 20)));

    // Stop the holder: the other takes it within the lease and goes on from the checkpoint.
    const holder = [a, b].find((d) => d.daemon.engine.instanceId === firstOwner)!;
    expect(holder).toBeDefined();
    const other = holder === a ? b : a;
    await holder.daemon.stop({ timeoutMs: 5000 });
    for (const e of events.slice(20)) await other.daemon.engine.operator.publish({ type: e.type, streamId: e.streamId, data: e.data });
    const n = itemCount(events);
    await waitFor('all items on the other daemon', async () => (await counts(db, schema, 'rec')).n === n);
    expect(await counts(db, schema, 'rec')).toEqual({ n, distinct: n, replays: 0 });
    expect(await owners()).toEqual([other.daemon.engine.instanceId]);
    await db.close();
  });
});
