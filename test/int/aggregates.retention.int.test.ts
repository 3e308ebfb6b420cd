import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamGapError } from '../../src/core/errors.js';
import { AggregateRepository } from '../../src/core/sourcing/aggregate-repository.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { PostgresRetention } from '../../src/postgres/retention.js';
import { TallyV1, TallyV2 } from '../support/aggregate-repository-suite.js';
import { pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/**
 * Retention removes an aggregate's events that its latest snapshot covers. The repository must then load from
 * that snapshot and the tail — and, for a definition that cannot use the snapshot (another schema version),
 * refuse with a StreamGapError instead of folding what is left into a wrong state.
 */
describe.runIf(hasPostgres())('aggregates after retention (Postgres)', () => {
  let t: TestDb;
  let store: PostgresEventStore;
  beforeAll(async () => {
    t = await pgTestDb();
    store = new PostgresEventStore(t.db, { schema: t.schema });
  });
  afterAll(async () => t?.dispose());

  it('loads from the snapshot and the tail; another schema version gets a StreamGapError, not a partial fold', async () => {
    const old = { now: () => new Date('2020-01-01T00:00:00.000Z') };
    const v1 = new AggregateRepository(store, TallyV1, { snapshotFrequency: 5, clock: old });
    const tally = await v1.load('t1');
    for (let i = 1; i <= 6; i++) tally.execute('add', i);
    expect(await v1.save(tally)).toMatchObject({ version: 6, snapshot: true });
    tally.execute('add', 7);
    tally.execute('add', 8);
    expect(await v1.save(tally)).toMatchObject({ version: 8, snapshot: false });
    // Every reader has passed the events (retention keeps what a reader has not read).
    await t.db.query(`INSERT INTO "${t.schema}".checkpoints (name, cursor) VALUES ('reader', $1)`, [await store.headCursor()]);

    const report = await new PostgresRetention(t.db, { schema: t.schema }).run({ cutoff: new Date(), aggregateTypes: ['tally'] }, 'delete');
    expect(report).toMatchObject({ removed: 6, kept: { aggregate: 2 } });
    expect((await store.readStream(TallyV1.streamId('t1'))).map((e) => e.version)).toEqual([7, 8]);

    expect((await v1.load('t1')).state).toEqual({ total: 36, items: [1, 2, 3, 4, 5, 6, 7, 8] });
    const err = await new AggregateRepository(store, TallyV2).load('t1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StreamGapError);
    expect(err).toMatchObject({ code: 'INVALID_STATE', details: { streamId: 'tally-t1', expected: 1, found: 7 } });
  });
});
