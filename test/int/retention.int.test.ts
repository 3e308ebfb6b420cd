import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import { createEngine, type Engine } from '../../src/daemon/engine.js';
import { databaseUrl, hasPostgres } from '../support/services.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { OrderSaga } from '../support/test-saga.js';

/**
 * Event retention (EVENT_STORE_RETENTION_DAYS) on PGlite and Postgres, through the operator (`events prune`):
 * expired events go — deleted or archived — except those a reader has not passed, those applied to a saga
 * instance still running, and aggregate events a snapshot does not cover.
 */

const OLD = '2020-01-01T00:00:00.000Z';
const stores = ['pglite', ...(hasPostgres() ? ['postgres' as const] : [])] as const;

const disposers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const d of disposers.splice(0).reverse()) await d();
});

async function open(store: 'pglite' | 'postgres', mode: 'delete' | 'archive'): Promise<{ t: TestDb; engine: Engine }> {
  const t = store === 'pglite' ? await pgliteTestDb() : await pgTestDb();
  disposers.push(() => t.dispose());
  const { config } = loadConfig({
    env: {},
    cwd: process.cwd(),
    flags: { 'store.type': store, 'database.schema': t.schema, ...(store === 'postgres' ? { 'database.url': databaseUrl } : {}), 'log.level': 'silent', 'store.retentionDays': 30, 'store.retentionMode': mode },
  });
  const engine = createEngine({ config, database: { db: t.db, kind: store, where: 'test' }, sagas: [OrderSaga], mode: 'direct', aggregateTypes: ['context'] });
  return { t, engine };
}

describe.each(stores)('retention on %s', { timeout: 90_000 }, (store) => {
  it.each(['delete', 'archive'] as const)('removes (%s) only what nothing needs', async (mode) => {
    const { t, engine } = await open(store, mode);
    const s = `"${t.schema}"`;
    const append = async (e: EventEnvelope) => {
      await engine.store.append(e.streamId, [e]);
      await engine.runtime.handle(e);
      return e.id;
    };
    const old = (type: string, streamId: string, data: Record<string, unknown> = {}, aggregateType?: string) =>
      createEvent({ type, streamId, data, timestamp: OLD, ...(aggregateType ? { aggregateType } : {}) });

    // A finished order (its events may go), a running one (its start event stays).
    const finished = [await append(old('order.placed', 'order-a', { orderId: 'a' })), await append(old('payment.succeeded', 'order-a', { orderId: 'a' }))];
    const running = await append(old('order.placed', 'order-b', { orderId: 'b' }));
    // An aggregate stream snapshotted at version 3 (versions 4-5 stay) and one never snapshotted (all stay).
    const ctx1: string[] = [];
    for (let v = 1; v <= 5; v++) ctx1.push(await append(old('context.updated', 'ctx-1', { v }, 'context')));
    await engine.store.saveSnapshot('ctx-1', 3, { v: 3 });
    const ctx2 = [await append(old('context.updated', 'ctx-2', {}, 'context')), await append(old('context.updated', 'ctx-2', {}, 'context'))];
    const plain = [await append(old('item.added', 'i-1')), await append(old('item.added', 'i-2')), await append(old('item.added', 'i-3'))];
    // A reader has read up to here; what follows it is not read yet.
    await t.db.query(`INSERT INTO ${s}.checkpoints (name, cursor) VALUES ('a-reader', $1)`, [await engine.store.headCursor()]);
    const unread = [await append(old('item.added', 'i-4')), await append(old('item.added', 'i-5'))];
    const fresh = await append(createEvent({ type: 'item.added', streamId: 'i-6', data: {} }));

    const deletable = new Set([...finished, ...ctx1.slice(0, 3), ...plain]);
    const expectedKept = { unread: 2, liveSaga: 1, aggregate: 4 };
    const ids = async (table: string) => new Set((await t.db.query<{ id: string }>(`SELECT event_id::text AS id FROM ${s}.${table}`)).rows.map((r) => r.id));
    const before = await ids('events');

    const dry = await engine.operator.retention({ dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, mode, kept: expectedKept, removed: deletable.size, slowestReader: 'a-reader' });
    expect(await ids('events')).toEqual(before); // a dry run changes nothing

    const done = await engine.operator.retention({ dryRun: false });
    expect(done).toMatchObject({ dryRun: false, removed: deletable.size, kept: expectedKept });
    const after = await ids('events');
    expect([...before].filter((id) => !after.has(id)).sort()).toEqual([...deletable].sort());
    for (const id of [running, ...ctx1.slice(3), ...ctx2, ...unread, fresh]) expect(after.has(id)).toBe(true);
    expect((await ids('events_archive')).size).toBe(mode === 'archive' ? deletable.size : 0);
    if (mode === 'archive') expect(await ids('events_archive')).toEqual(deletable);

    // The streams go on at their versions; the aggregate loads from its snapshot and the tail.
    await engine.store.append('ctx-1', [createEvent({ type: 'context.updated', streamId: 'ctx-1', data: { v: 6 }, aggregateType: 'context' })], { expectedVersion: 5 });
    expect((await engine.store.readStream('ctx-1')).map((e) => e.version)).toEqual([4, 5, 6]);

    // Once the reader passes them (its checkpoint removed here), the unread ones go too; a second pass finds nothing else.
    await t.db.query(`DELETE FROM ${s}.checkpoints WHERE name = 'a-reader'`);
    await t.db.query(`INSERT INTO ${s}.checkpoints (name, cursor) VALUES ('a-reader', $1)`, [await engine.store.headCursor()]);
    expect((await engine.operator.retention({ dryRun: false })).removed).toBe(2);
    expect((await engine.operator.retention({ dryRun: false })).removed).toBe(0);
  });

  it('keeps everything with retention 0 and while no reader has a checkpoint', async () => {
    const { engine } = await open(store, 'delete');
    await engine.store.append('x', [createEvent({ type: 'item.added', streamId: 'x', data: {}, timestamp: OLD })]);
    expect(await engine.operator.retention({ dryRun: false })).toMatchObject({ expired: 1, removed: 0, kept: { unread: 1 } });
    expect(await engine.operator.retention({ dryRun: false, olderThanDays: 0 })).toMatchObject({ expired: 0, removed: 0 });
  });
});
