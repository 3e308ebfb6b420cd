/**
 * Event store figures (issue 2, item 7), each beside a baseline measured in the same run:
 * - append, single events and batches of 100 (PostgresEventStore) vs raw `pg` INSERT of the same rows
 *   into an equivalent plain table (same columns, defaults and indexes: `LIKE events INCLUDING ALL`);
 * - readAll catch-up (pages of 1000) vs a raw `SELECT … WHERE position > $1 ORDER BY position LIMIT 1000` loop
 *   over the same rows;
 * - extra: append batch 100 on PGlite vs raw multi-row INSERT on PGlite.
 * Store and baseline run in alternating timed rounds after a warm-up, so drift on a shared machine hits both.
 */
import pg from 'pg';
import { createEvent, type EventEnvelope } from '../src/core/events/envelope.js';
import type { Queryable } from '../src/core/ports/db.js';
import { PostgresEventStore } from '../src/postgres/event-store.js';
import { migrate } from '../src/postgres/migrate.js';
import { PgDb } from '../src/postgres/pg-db.js';
import { PgliteDb } from '../src/postgres/pglite-db.js';
import type { BenchContext, BenchResult } from './types.js';

type Result = BenchResult;

interface Timing {
  /** Length of one timed round; subject and baseline alternate, round by round. */
  roundMs: number;
  rounds: number;
  /** Untimed run of each side first (connections, plans, caches, JIT). */
  warmupMs: number;
}

interface Measured {
  ops: number;
  seconds: number;
  latenciesMs: number[];
}

/** Runs `op` repeatedly for about `ms` milliseconds. */
async function timed(op: () => Promise<void>, ms: number): Promise<Measured> {
  const latenciesMs: number[] = [];
  const start = performance.now();
  let now = start;
  while (now - start < ms) {
    const t = performance.now();
    await op();
    now = performance.now();
    latenciesMs.push(now - t);
  }
  return { ops: latenciesMs.length, seconds: (now - start) / 1000, latenciesMs };
}

function merge(ms: Measured[]): Measured {
  return {
    ops: ms.reduce((n, m) => n + m.ops, 0),
    seconds: ms.reduce((n, m) => n + m.seconds, 0),
    latenciesMs: ms.flatMap((m) => m.latenciesMs),
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

function latencyNote(label: string, m: Measured): string {
  const s = [...m.latenciesMs].sort((a, b) => a - b);
  return `${label} p50 ${percentile(s, 50).toFixed(2)} ms, p99 ${percentile(s, 99).toFixed(2)} ms`;
}

/** Warm-up, then alternating rounds of `subject` and `baseline`. */
async function compare(timing: Timing, subject: () => Promise<void>, baseline: () => Promise<void>): Promise<{ s: Measured; b: Measured }> {
  await timed(subject, timing.warmupMs);
  await timed(baseline, timing.warmupMs);
  const s: Measured[] = [];
  const b: Measured[] = [];
  for (let i = 0; i < timing.rounds; i++) {
    s.push(await timed(subject, timing.roundMs));
    b.push(await timed(baseline, timing.roundMs));
  }
  return { s: merge(s), b: merge(b) };
}

function result(name: string, baselineName: string, s: Measured, b: Measured, perOp: number, extra: Partial<Result> = {}): Result {
  const value = (s.ops * perOp) / s.seconds;
  const baseline = (b.ops * perOp) / b.seconds;
  return { name, unit: 'events/s', value, baselineName, baseline, ratio: value / baseline, ...extra };
}

const eventColumns = 'event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at';

/** The same row values the store writes, as positional parameters for a raw INSERT. */
function rowParams(e: EventEnvelope, version: number): unknown[] {
  return [e.id, e.streamId, version, e.type, e.aggregateType, JSON.stringify(e.data), JSON.stringify(e.metadata), e.timestamp];
}

function multiRowInsert(table: string, events: EventEnvelope[]): { sql: string; params: unknown[] } {
  const params: unknown[] = [];
  const tuples = events.map((e, i) => {
    params.push(...rowParams(e, i + 1));
    const o = i * 8;
    return `($${o + 1}, $${o + 2}, $${o + 3}, $${o + 4}, $${o + 5}, $${o + 6}, $${o + 7}, $${o + 8})`;
  });
  return { sql: `INSERT INTO ${table} (${eventColumns}) VALUES ${tuples.join(', ')}`, params };
}

let seq = 0;
/** A realistic small event: a task with a title, priority and tags, with correlation metadata. */
function makeEvent(streamId: string): EventEnvelope {
  seq++;
  return createEvent({
    type: 'task.created',
    streamId,
    aggregateType: 'task',
    data: { title: `task ${seq}`, priority: seq % 5, tags: ['bench', 'sagaflow'], requestedBy: 'agent-7' },
    metadata: { correlationId: `corr-${seq >> 4}`, causationId: `cause-${seq}` },
  });
}

const makeBatch = (streamId: string, n: number) => Array.from({ length: n }, () => makeEvent(streamId));

/** Creates the plain baseline table beside `events` (same columns, identity, defaults, indexes). */
async function createRawTable(q: Queryable, schema: string): Promise<string> {
  await q.query(`CREATE TABLE "${schema}".raw_events (LIKE "${schema}".events INCLUDING ALL)`);
  return `"${schema}".raw_events`;
}

async function appendFigures(ctx: BenchContext, pool: pg.Pool, schema: string, timing: Timing): Promise<Result[]> {
  const store = new PostgresEventStore(new PgDb(pool), { schema });
  const raw = await createRawTable(pool, schema);
  const out: Result[] = [];

  // Single events: one statement (one transaction, one commit) per event, on one connection.
  ctx.log('append, single events …');
  const streams = Array.from({ length: 64 }, (_, i) => `single-${i}`);
  const rawVersions = new Map<string, number>();
  let i = 0;
  const single = await compare(
    timing,
    async () => {
      const s = streams[i++ % streams.length]!;
      await store.append(s, [makeEvent(s)]);
    },
    async () => {
      const s = streams[i++ % streams.length]!;
      const v = (rawVersions.get(s) ?? 0) + 1;
      rawVersions.set(s, v);
      await pool.query(`INSERT INTO ${raw} (${eventColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, rowParams(makeEvent(s), v));
    },
  );
  out.push(
    result('append, single event', 'raw pg INSERT, 1 row', single.s, single.b, 1, {
      notes: `${latencyNote('store', single.s)}; ${latencyNote('raw', single.b)}; 1 connection, commit per event`,
    }),
  );

  // Batches of 100: one append per new stream vs one multi-row INSERT of the same 100 rows.
  ctx.log('append, batches of 100 …');
  const batch = await compareBatchAppend(timing, store, raw, (sql, params) => pool.query(sql, params));
  out.push(
    result('append, batch of 100', 'raw pg multi-row INSERT, 100 rows', batch.s, batch.b, 100, {
      goal: 0.8,
      notes: `${latencyNote('store', batch.s)}; ${latencyNote('raw', batch.b)}; expectedVersion no-stream`,
    }),
  );
  return out;
}

async function catchUpFigure(ctx: BenchContext, pool: pg.Pool, schema: string, timing: Timing, total: number): Promise<Result> {
  const store = new PostgresEventStore(new PgDb(pool), { schema });
  const events = `"${schema}".events`;
  ctx.log(`catch-up: seeding ${total.toLocaleString('en-US')} events …`);
  await pool.query(`TRUNCATE ${events}`);
  // 1000 rows per statement (so per transaction id), with the shape makeEvent() writes.
  for (let from = 1; from <= total; from += 1000) {
    await pool.query(
      `INSERT INTO ${events} (${eventColumns})
       SELECT gen_random_uuid(), 'seed-' || (g / 10), g % 10 + 1, 'task.created', 'task',
              jsonb_build_object('title', 'task ' || g, 'priority', g % 5, 'tags', jsonb_build_array('bench', 'sagaflow'), 'requestedBy', 'agent-7'),
              jsonb_build_object('correlationId', 'corr-' || (g / 16), 'causationId', 'cause-' || g),
              now()
       FROM generate_series($1::int, $2::int) AS g`,
      [from, Math.min(total, from + 999)],
    );
  }
  await pool.query(`VACUUM ANALYZE ${events}`);

  const storePass = async () => {
    let after: string | undefined;
    let seen = 0;
    for (;;) {
      const page = await store.readAll({ after, limit: 1000 });
      if (page.events.length === 0) break;
      seen += page.events.length;
      after = page.next;
    }
    if (seen !== total) throw new Error(`readAll saw ${seen} of ${total} events`);
  };
  const rawPass = async () => {
    let position = 0;
    let seen = 0;
    for (;;) {
      const { rows } = await pool.query<{ position: string }>(
        `SELECT position, ${eventColumns} FROM ${events} WHERE position > $1 ORDER BY position LIMIT 1000`,
        [position],
      );
      if (rows.length === 0) break;
      seen += rows.length;
      position = Number(rows.at(-1)!.position);
    }
    if (seen !== total) throw new Error(`raw SELECT saw ${seen} of ${total} events`);
  };
  ctx.log('catch-up: reading …');
  const { s, b } = await compare(timing, storePass, rawPass);
  return result(`readAll catch-up, ${total.toLocaleString('en-US')} events`, 'raw SELECT … ORDER BY position LIMIT 1000', s, b, total, {
    minValue: 200_000,
    notes: `pages of 1000; ${s.ops} timed passes each; one pass: store ${(s.seconds / s.ops).toFixed(2)} s, raw ${(b.seconds / b.ops).toFixed(2)} s`,
  });
}

/** Batches of 100: one append per new stream vs one multi-row INSERT of the same 100 rows. */
function compareBatchAppend(timing: Timing, store: PostgresEventStore, raw: string, rawQuery: (sql: string, params: unknown[]) => Promise<unknown>) {
  let n = 0;
  return compare(
    timing,
    async () => {
      const s = `batch-${n++}`;
      await store.append(s, makeBatch(s, 100), { expectedVersion: 'no-stream' });
    },
    async () => {
      const s = `batch-${n++}`;
      const { sql, params } = multiRowInsert(raw, makeBatch(s, 100));
      await rawQuery(sql, params);
    },
  );
}

async function pgliteFigure(ctx: BenchContext, timing: Timing): Promise<Result> {
  ctx.log('PGlite append, batches of 100 …');
  const db = await PgliteDb.open();
  try {
    await migrate(db, { schema: 'sagaflow' });
    const store = new PostgresEventStore(db, { schema: 'sagaflow' });
    const raw = await createRawTable(db, 'sagaflow');
    const { s, b } = await compareBatchAppend(timing, store, raw, (sql, params) => db.query(sql, params));
    return result('PGlite append, batch of 100', 'raw multi-row INSERT on PGlite', s, b, 100, {
      notes: `in-memory PGlite; ${latencyNote('store', s)}; ${latencyNote('raw', b)}`,
    });
  } finally {
    await db.close();
  }
}

/** The event-store bench module (see bench/types.ts). */
export default async function eventStoreBench(ctx: BenchContext): Promise<Result[]> {
  // Short alternating rounds: load from anything else on the machine hits store and baseline alike.
  const timing: Timing = ctx.quick ? { warmupMs: 200, rounds: 4, roundMs: 150 } : { warmupMs: 500, rounds: 12, roundMs: 250 };
  const out: Result[] = [];
  if (ctx.databaseUrl) {
    const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2, application_name: 'sagaflow-bench' });
    pool.on('error', () => {});
    const schema = `bench_${process.pid}_${Date.now().toString(36)}`;
    try {
      await migrate(new PgDb(pool), { schema });
      out.push(...(await appendFigures(ctx, pool, schema, timing)));
      // Each round of the catch-up figure is one full pass over the log (timed() runs at least one op).
      // The log is kept small because readAll's cost currently grows with the square of the log size
      // (every page sorts all remaining rows: see docs/benchmarks.md), which would unbound the run.
      const passes = { warmupMs: 1, rounds: 2, roundMs: 1 };
      out.push(await catchUpFigure(ctx, pool, schema, passes, ctx.quick ? 20_000 : 200_000));
    } finally {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await pool.end();
    }
  } else {
    ctx.log('Postgres not available: skipping the Postgres figures');
  }
  out.push(await pgliteFigure(ctx, timing));
  return out;
}
