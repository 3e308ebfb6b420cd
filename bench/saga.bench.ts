/**
 * Saga runtime throughput on local Postgres, each figure beside the raw SQL of the same work run the same way:
 * - saga steps/s at 1 and 16 concurrent instances (one `order.noted` per step: read, transition, versioned write),
 *   baseline: BEGIN with the append lock; the same read; one raw write statement (inbox + version-checked update
 *   + history); COMMIT;
 * - 3-step saga completions/s (placed → payment.failed → stock.released, with emitted events and timers),
 *   baseline: three raw steps per completion writing the same rows (create: inbox, instance, history, two timers,
 *   then one emitted event appended to the log; transition: inbox, update, history, two timer deletes, then one
 *   emitted event appended; last: inbox, update, history);
 * - p50/p99 step latency;
 * - batched steps (issue 13, G3 ≥ 1.5×): pages of 128 `order.noted` events of 128 instances applied by
 *   `applyBatch` with 32 steps per transaction (what the daemon's saga reader does), 1 page at a time,
 *   against the raw one-commit-per-step SQL of the same rows in 16 concurrent loops (its best rate here).
 * Every step, saga or raw, is one transaction that takes the event log's shared append lock in the same round
 * trip as BEGIN (`BEGIN; SELECT pg_advisory_xact_lock_shared(…)`), as a step must before it may append. A step
 * that emits appends its event to the log (`streams` row created or bumped, one `events` row) in one more
 * statement of that transaction: BEGIN+lock / read / write / append / COMMIT.
 * The baseline sends plain (unnamed) pg queries, as hand-written code does; the runtime uses named prepared
 * statements, which is part of what it does for its users. Saga and baseline run in alternating slices so both
 * see the same background load.
 */
import { createEvent } from '../src/core/events/envelope.js';
import { newId } from '../src/core/ids.js';
import type { Queryable } from '../src/core/ports/db.js';
import { appendLockFor } from '../src/postgres/append-lock.js';
import { quoteSchema } from '../src/postgres/identifiers.js';
import { migrate } from '../src/postgres/migrate.js';
import { PgDb } from '../src/postgres/pg-db.js';
import { PostgresSagaRepository } from '../src/postgres/saga-repository.js';
import { SagaRuntime } from '../src/runtime/saga-runtime.js';
import { OrderSaga } from '../test/support/test-saga.js';
import type { BenchContext, BenchResult } from './types.js';

const ev = (type: string, orderId: string) => createEvent({ type, streamId: orderId, data: { orderId } });

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `work(worker)` in `concurrency` loops for `ms`; returns the ops, seconds and per-op latencies. */
async function timed(concurrency: number, ms: number, work: (worker: number, i: number) => Promise<void>) {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t0 = performance.now();
        await work(w, i);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { ops: latencies.length, seconds: (performance.now() - start) / 1000, latencies };
}

/**
 * Measures `a` and `b` for `ms` each, in alternating slices, so that both see the same background load
 * (the machine is shared: one long run of each lets a load spike land on one side only).
 */
async function paired(concurrency: number, ms: number, a: (worker: number) => Promise<void>, b: (worker: number) => Promise<void>) {
  const slices = 4;
  const acc = [a, b].map(() => ({ ops: 0, seconds: 0, latencies: [] as number[] }));
  for (let i = 0; i < slices; i++) {
    for (const [j, work] of [a, b].entries()) {
      const r = await timed(concurrency, ms / slices, work);
      acc[j]!.ops += r.ops;
      acc[j]!.seconds += r.seconds;
      acc[j]!.latencies.push(...r.latencies);
    }
  }
  return acc.map((x) => ({ rate: x.ops / x.seconds, latencies: x.latencies.sort((p, q) => p - q) })) as [Rate, Rate];
}
type Rate = { rate: number; latencies: number[] };

/** The JSON a real `Order` instance stores, so the raw baseline writes payloads of the same size. */
async function sampleRows(runtime: SagaRuntime) {
  const k = `sample-${newId()}`;
  await runtime.handle(ev('order.placed', k));
  await runtime.handle(ev('order.noted', k));
  const instance = await runtime.repository.get('Order', k);
  const history = await runtime.repository.history('Order', k);
  if (!instance || history.length !== 2) throw new Error('saga bench: sample instance missing');
  return {
    snapshot: JSON.stringify(instance.snapshot),
    state: JSON.stringify(instance.state),
    context: JSON.stringify(instance.context),
    placedEffects: JSON.stringify(history[0]!.effects),
    noteEffects: JSON.stringify(history[1]!.effects),
  };
}

/** An event like the ones the saga emits (on the instance's stream, with the saga's metadata). */
const emittedEvent = (type: string, key: string, causationId: string) =>
  createEvent({
    type, streamId: key, aggregateType: 'Order', data: { orderId: key },
    metadata: { correlationId: `Order:${key}`, causationId, saga: 'Order', sagaKey: key },
  });

export default async function bench(ctx: BenchContext): Promise<BenchResult[]> {
  if (!ctx.databaseUrl) {
    ctx.log('saga bench: no database URL, skipped');
    return [];
  }
  const schema = `bench_saga_${Date.now().toString(36)}`;
  const s = quoteSchema(schema);
  const db = new PgDb({ connectionString: ctx.databaseUrl, max: 20, applicationName: 'sagaflow-bench' });
  const ms = ctx.quick ? 1500 : 4000;
  const results: BenchResult[] = [];
  try {
    await migrate(db, { schema });
    const runtime = new SagaRuntime({ repository: new PostgresSagaRepository(db, { schema }), sagas: [OrderSaga], timers: false, maxConflictRetries: 50 });

    // The raw baseline: the same rows and the same transaction shape as the runtime's step, written by hand
    // (BEGIN with the append lock, one round trip; read the instance and the inbox; one statement writing the
    // saga's rows; for a step that emits, one statement appending the event to the log; COMMIT), with the
    // payloads the saga really stores (snapshot, state, context, history effects, emitted envelope), minus
    // xstate and the runtime's validation. Its statements are plain (unnamed) pg queries, as hand-written code
    // sends them.
    const sample = await sampleRows(runtime);
    /** `SELECT pg_advisory_xact_lock_shared(…)` on this schema's key: the Db sends `BEGIN; <it>` as one simple query. */
    const begin = { begin: appendLockFor(schema).sql };
    const rawRead = (tx: Queryable, key: string, eventId: string) =>
      tx.query<{ version: number | null; status: string | null; snapshot: unknown; seen: boolean }>(
        `SELECT i.version, i.status, i.snapshot, EXISTS (SELECT 1 FROM ${s}.saga_inbox WHERE saga = $1 AND key = $2 AND event_id = $3) AS seen
         FROM (SELECT 1) one LEFT JOIN ${s}.saga_instances i ON i.saga = $1 AND i.key = $2`,
        ['Raw', key, eventId],
      );
    /**
     * Appends one emitted event to the log (like the step's append of a one-event batch to a stream): creates
     * or bumps the `streams` row, inserts the `events` row at the new version.
     */
    const rawAppend = async (tx: Queryable, type: string, key: string, causationId: string) => {
      const e = emittedEvent(type, key, causationId);
      const res = await tx.query(
        `WITH st AS (
           INSERT INTO ${s}.streams AS st (stream_id, version) VALUES ($1, 1)
           ON CONFLICT (stream_id) DO UPDATE SET version = st.version + 1, updated_at = now()
           RETURNING st.version
         )
         INSERT INTO ${s}.events (event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at)
         SELECT $2::uuid, $1, st.version, $3, $4, $5::jsonb, $6::jsonb, $7::timestamptz FROM st
         RETURNING position`,
        [e.streamId, e.id, e.type, e.aggregateType, JSON.stringify(e.data), JSON.stringify(e.metadata), e.timestamp],
      );
      if (res.rowCount !== 1) throw new Error('raw baseline: append wrote no event');
    };
    /** Inbox row, instance insert, history row, two timer rows, then the emitted event appended (like `order.placed`). */
    const rawCreate = (key: string) =>
      db.transaction(async (tx) => {
        const eventId = newId();
        const { rows } = await rawRead(tx, key, eventId);
        if (rows[0]!.seen || rows[0]!.version !== null) throw new Error('raw baseline: unexpected instance');
        const now = new Date().toISOString();
        await tx.query(
          `WITH inbox AS (INSERT INTO ${s}.saga_inbox (saga, key, event_id) VALUES ('Raw', $1, $2) RETURNING 1),
           hist AS (INSERT INTO ${s}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, at)
                    VALUES ('Raw', $1, $2, 'order.placed', 'null', $4::jsonb, $6::jsonb, 'applied', $3) RETURNING 1),
           tup AS (INSERT INTO ${s}.timers (saga, key, timer_id, event, due_at)
                   VALUES ('Raw', $1, 'reminder', '{"type":"order.remind"}', $3::timestamptz + interval '10 seconds'),
                          ('Raw', $1, 'xstate.after.paymentTimeout.Order.awaitingPayment', '{"type":"xstate.after"}', $3::timestamptz + interval '60 seconds')
                   RETURNING 1)
           INSERT INTO ${s}.saga_instances (saga, key, version, definition_version, status, state, context, snapshot, created_at, updated_at)
           VALUES ('Raw', $1, 1, 1, 'running', $4::jsonb, $5::jsonb, $7::jsonb, $3, $3)`,
          [key, eventId, now, sample.state, sample.context, sample.placedEffects, sample.snapshot],
        );
        await rawAppend(tx, 'payment.requested', key, eventId);
      }, begin);
    /**
     * Inbox row, version-checked update, history row; with `transition`, two timer deletes too, then the emitted
     * event appended (like `payment.failed`).
     */
    const rawUpdate = (key: string, transition: boolean) =>
      db.transaction(async (tx) => {
        const eventId = newId();
        const { rows } = await rawRead(tx, key, eventId);
        const version = rows[0]!.version;
        if (rows[0]!.seen || version === null) throw new Error('raw baseline: no instance');
        const now = new Date().toISOString();
        const res = await tx.query(
          `WITH inbox AS (INSERT INTO ${s}.saga_inbox (saga, key, event_id) VALUES ('Raw', $1, $2) RETURNING 1),
           hist AS (INSERT INTO ${s}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, at)
                    VALUES ('Raw', $1, $2, 'order.noted', $5::jsonb, $5::jsonb, $7::jsonb, 'applied', $3) RETURNING 1)
           ${transition ? `, tdel AS (DELETE FROM ${s}.timers WHERE saga = 'Raw' AND key = $1 AND timer_id IN ('reminder', 'xstate.after.paymentTimeout.Order.awaitingPayment') RETURNING 1)` : ''}
           UPDATE ${s}.saga_instances SET version = version + 1, status = 'running', state = $5::jsonb, context = $6::jsonb, snapshot = $8::jsonb, updated_at = $3
           WHERE saga = 'Raw' AND key = $1 AND version = $4`,
          [key, eventId, now, version, sample.state, sample.context, transition ? sample.placedEffects : sample.noteEffects, sample.snapshot],
        );
        if (res.rowCount !== 1) throw new Error('raw baseline lost a race');
        if (transition) await rawAppend(tx, 'stock.release-requested', key, eventId);
      }, begin);

    for (const concurrency of [1, 16]) {
      const keys = Array.from({ length: concurrency }, () => `k-${newId()}`);
      await Promise.all(keys.map((k) => runtime.handle(ev('order.placed', k))));
      const rawKeys = Array.from({ length: concurrency }, () => `r-${newId()}`);
      await Promise.all(rawKeys.map((k) => rawCreate(k)));
      const [saga, raw] = await paired(
        concurrency,
        ms,
        async (w) => void (await runtime.handle(ev('order.noted', keys[w]!))),
        (w) => rawUpdate(rawKeys[w]!, false),
      );
      results.push({
        name: `saga step, ${concurrency} concurrent instance${concurrency > 1 ? 's' : ''}`,
        unit: 'steps/s',
        value: Math.round(saga.rate),
        baselineName: 'raw SQL of one step',
        baseline: Math.round(raw.rate),
        ratio: saga.rate / raw.rate,
        goal: 0.6,
        notes: `p50 ${percentile(saga.latencies, 50).toFixed(2)} ms, p99 ${percentile(saga.latencies, 99).toFixed(2)} ms (raw p50 ${percentile(raw.latencies, 50).toFixed(2)} ms, p99 ${percentile(raw.latencies, 99).toFixed(2)} ms)`,
      });
      ctx.log(`saga step c=${concurrency}: ${saga.rate.toFixed(0)}/s vs raw ${raw.rate.toFixed(0)}/s`);

      const [completions, rawCompletions] = await paired(
        concurrency,
        ms,
        async () => {
          const k = `c-${newId()}`;
          await runtime.handle(ev('order.placed', k));
          await runtime.handle(ev('payment.failed', k));
          await runtime.handle(ev('stock.released', k));
        },
        async () => {
          const k = `rc-${newId()}`;
          await rawCreate(k);
          await rawUpdate(k, true);
          await rawUpdate(k, false);
        },
      );
      results.push({
        name: `3-step saga completions, ${concurrency} concurrent`,
        unit: 'completions/s',
        value: Math.round(completions.rate),
        baselineName: 'raw SQL of 3 steps',
        baseline: Math.round(rawCompletions.rate),
        ratio: completions.rate / rawCompletions.rate,
        goal: 0.6,
        notes: `p50 ${percentile(completions.latencies, 50).toFixed(2)} ms, p99 ${percentile(completions.latencies, 99).toFixed(2)} ms per completion (raw p50 ${percentile(rawCompletions.latencies, 50).toFixed(2)} ms, p99 ${percentile(rawCompletions.latencies, 99).toFixed(2)} ms)`,
      });
    }

    // Batched steps against the raw one-commit-per-step rate of the same rows, in alternating slices.
    const page = 128;
    const batchKeys = Array.from({ length: page }, () => `b-${newId()}`);
    await runtime.applyBatch(batchKeys.map((k) => ev('order.placed', k)), { stepsPerTransaction: 32 });
    const rawBatchKeys = Array.from({ length: 16 }, () => `rb-${newId()}`);
    await Promise.all(rawBatchKeys.map((k) => rawCreate(k)));
    const acc = { batched: { steps: 0, seconds: 0 }, raw: { steps: 0, seconds: 0 } };
    for (let slice = 0; slice < 4; slice++) {
      const b = await timed(1, ms / 4, async () => {
        const outcomes = await runtime.applyBatch(batchKeys.map((k) => ev('order.noted', k)), { stepsPerTransaction: 32 });
        if (outcomes.length !== page) throw new Error(`batched steps: ${outcomes.length} outcomes for ${page} events`);
      });
      acc.batched.steps += b.ops * page;
      acc.batched.seconds += b.seconds;
      const r = await timed(16, ms / 4, (w) => rawUpdate(rawBatchKeys[w]!, false));
      acc.raw.steps += r.ops;
      acc.raw.seconds += r.seconds;
    }
    const [batched, rawRate] = [acc.batched.steps / acc.batched.seconds, acc.raw.steps / acc.raw.seconds];
    results.push({
      name: 'batched saga steps (pages of 128 instances, 32 steps per transaction)',
      unit: 'steps/s',
      value: Math.round(batched),
      baselineName: 'raw SQL, one commit per step, 16 loops',
      baseline: Math.round(rawRate),
      ratio: batched / rawRate,
      goal: 1.5,
      notes: `${acc.batched.steps} batched steps, ${acc.raw.steps} raw steps, alternating slices`,
    });
    ctx.log(`batched steps: ${batched.toFixed(0)}/s vs raw ${rawRate.toFixed(0)}/s`);
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => undefined);
    await db.close();
  }
  return results;
}
