/**
 * Aggregate figures (issue 10): loading a `Context` aggregate whose stream holds 10,000 events, on Postgres.
 * - with a snapshot (taken every 10 versions, so the tail after it is 5 events) vs the same load of a stream
 *   without one (a full replay): what snapshots buy;
 * - the full replay vs a raw `SELECT type, data, … WHERE stream_id = $1 ORDER BY version` of the same rows,
 *   folded by the same `evolve`: what the repository costs over the rows.
 * The sides alternate in short timed rounds, so load from elsewhere on a shared machine hits both.
 */
import pg from 'pg';
import { createEvent, type EventEnvelope } from '../src/core/events/envelope.js';
import { AggregateRepository } from '../src/core/sourcing/aggregate-repository.js';
import { PostgresEventStore } from '../src/postgres/event-store.js';
import { migrate } from '../src/postgres/migrate.js';
import { isoText } from '../src/postgres/iso-text.js';
import { PgDb } from '../src/postgres/pg-db.js';
import { Context } from '../sagas/index.js';
import type { BenchContext, BenchResult } from './types.js';

const STREAM_EVENTS = 10_000;
const FREQUENCY = 10;

/** Loads per second of `load`, run for about `ms` (at least once). */
async function loadsPerSecond(load: () => Promise<unknown>, ms: number): Promise<{ loads: number; seconds: number }> {
  const start = performance.now();
  let loads = 0;
  do {
    await load();
    loads++;
  } while (performance.now() - start < ms);
  return { loads, seconds: (performance.now() - start) / 1000 };
}

/** Alternating rounds of `subject` and `baseline`; returns both rates (loads/s). */
async function alternate(rounds: number, ms: number, subject: () => Promise<unknown>, baseline: () => Promise<unknown>): Promise<[number, number]> {
  await subject();
  await baseline();
  const totals = [{ loads: 0, seconds: 0 }, { loads: 0, seconds: 0 }];
  for (let i = 0; i < rounds; i++) {
    for (const [k, op] of [subject, baseline].entries()) {
      const r = await loadsPerSecond(op, ms);
      totals[k]!.loads += r.loads;
      totals[k]!.seconds += r.seconds;
    }
  }
  return [totals[0]!.loads / totals[0]!.seconds, totals[1]!.loads / totals[1]!.seconds];
}

/** `n` Context events for aggregate `id`: created, then updates of name and description in turn. */
function contextEvents(id: string, from: number, n: number): EventEnvelope[] {
  const streamId = Context.streamId(id);
  return Array.from({ length: n }, (_, i) => {
    const v = from + i;
    const data = v === 1
      ? { contextId: id, agentId: 'agent-7', name: 'bench context', description: 'seeded', createdBy: 'bench' }
      : { contextId: id, changes: v % 2 ? { name: `name ${v}` } : { description: `description ${v}` }, updatedBy: 'bench' };
    return createEvent({ type: v === 1 ? 'context.created' : 'context.updated', streamId, aggregateType: 'context', data });
  });
}

async function seed(store: PostgresEventStore, id: string, upTo: number): Promise<void> {
  const from = (await store.streamVersion(Context.streamId(id))) + 1;
  for (let v = from; v <= upTo; v += 1000) await store.append(Context.streamId(id), contextEvents(id, v, Math.min(1000, upTo - v + 1)));
}

/** The aggregate bench module (see bench/types.ts). */
export default async function aggregateBench(ctx: BenchContext): Promise<BenchResult[]> {
  if (!ctx.databaseUrl) {
    ctx.log('Postgres not available: skipping the aggregate figures');
    return [];
  }
  const [rounds, ms] = ctx.quick ? [3, 300] : [8, 500];
  const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2, application_name: 'sagaflow-bench' });
  pool.on('error', () => {});
  const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
  try {
    const db = new PgDb(pool);
    await migrate(db, { schema });
    const store = new PostgresEventStore(db, { schema });
    const repository = new AggregateRepository(store, Context, { snapshotFrequency: FREQUENCY });
    ctx.log(`seeding two streams of ${STREAM_EVENTS.toLocaleString('en-US')} events …`);
    // With a snapshot: the repository saves the last events, snapshotting at 9,995; 5 more follow it.
    await seed(store, 'snap', STREAM_EVENTS - 10);
    const snap = await repository.load('snap');
    for (let i = 0; i < 5; i++) snap.execute('update', { name: `saved ${i}`, updatedBy: 'bench' });
    const saved = await repository.save(snap);
    if (!saved.snapshot) throw new Error('the seeding save took no snapshot');
    await seed(store, 'snap', STREAM_EVENTS);
    await seed(store, 'full', STREAM_EVENTS);
    await pool.query(`VACUUM ANALYZE "${schema}".events`);

    const withSnapshot = async () => {
      if ((await repository.load('snap')).version !== STREAM_EVENTS) throw new Error('short load');
    };
    const fullReplay = async () => {
      if ((await repository.load('full')).version !== STREAM_EVENTS) throw new Error('short load');
    };
    const rawFold = async () => {
      const { rows } = await pool.query<EventEnvelope>(
        `SELECT event_id AS id, type, version, data, metadata, ${isoText('occurred_at')} AS timestamp
         FROM "${schema}".events WHERE stream_id = $1 ORDER BY version`,
        [Context.streamId('full')],
      );
      Context.fold(rows);
      if (rows.length !== STREAM_EVENTS) throw new Error('short read');
    };
    ctx.log('loading …');
    const [snapRate, fullRate] = await alternate(rounds, ms, withSnapshot, fullReplay);
    const [fullRate2, rawRate] = await alternate(rounds, ms, fullReplay, rawFold);
    const name = `aggregate load, ${STREAM_EVENTS.toLocaleString('en-US')} events`;
    return [
      {
        name: `${name}, snapshot every ${FREQUENCY}`, unit: 'loads/s', value: snapRate, baselineName: `${name}, no snapshot (full replay)`, baseline: fullRate,
        ratio: snapRate / fullRate, notes: `snapshot at 9,995 + 5 events; one load: ${(1000 / snapRate).toFixed(2)} ms vs ${(1000 / fullRate).toFixed(1)} ms`,
      },
      {
        name: `${name}, no snapshot (full replay)`, unit: 'loads/s', value: fullRate2, baselineName: 'raw SELECT of the stream + the same fold', baseline: rawRate,
        ratio: fullRate2 / rawRate, notes: `pages of 1000 events; one load: ${(1000 / fullRate2).toFixed(1)} ms vs ${(1000 / rawRate).toFixed(1)} ms`,
      },
    ];
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
    await pool.end();
  }
}
