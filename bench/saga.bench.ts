/**
 * Saga runtime throughput on local Postgres, each figure beside the raw SQL of the same work run the same way:
 * - saga steps/s at 1 and 16 concurrent instances (one `order.noted` per step: read, transition, versioned write),
 *   baseline: BEGIN; the same read; one raw write statement (inbox + version-checked update + history); COMMIT;
 * - 3-step saga completions/s (placed → payment.failed → stock.released, with outbox rows and timers),
 *   baseline: three raw steps per completion;
 * - p50/p99 step latency.
 */
import { createEvent } from '../src/core/events/envelope.js';
import { newId } from '../src/core/ids.js';
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

/** Runs `work(worker)` in `concurrency` loops for `ms`; returns ops/s and per-op latencies. */
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
  const seconds = (performance.now() - start) / 1000;
  return { rate: latencies.length / seconds, latencies: latencies.sort((a, b) => a - b) };
}

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

    // Raw baseline of one step, same round trips as the runtime's step minus xstate and the outbox/timer CTEs.
    const rawStep = (key: string) =>
      db.transaction(async (tx) => {
        const { rows } = await tx.query<{ version: number; snapshot: unknown }>(
          `SELECT i.version, i.snapshot, EXISTS (SELECT 1 FROM ${s}.saga_inbox WHERE saga = $1 AND key = $2 AND event_id = $3) AS seen
           FROM (SELECT 1) one LEFT JOIN ${s}.saga_instances i ON i.saga = $1 AND i.key = $2`,
          ['Raw', key, newId()],
        );
        const version = rows[0]?.version ?? 0;
        const eventId = newId();
        if (version === 0) {
          await tx.query(
            `WITH inbox AS (INSERT INTO ${s}.saga_inbox (saga, key, event_id) VALUES ('Raw', $1, $2) RETURNING 1)
             INSERT INTO ${s}.saga_instances (saga, key, version, definition_version, status, state, context, snapshot, created_at, updated_at)
             VALUES ('Raw', $1, 1, 1, 'running', '"s"', '{}', $3::jsonb, now(), now())`,
            [key, eventId, JSON.stringify({ value: 's', context: { n: 0 } })],
          );
          return;
        }
        const res = await tx.query(
          `WITH inbox AS (INSERT INTO ${s}.saga_inbox (saga, key, event_id) VALUES ('Raw', $1, $2) RETURNING 1),
           hist AS (INSERT INTO ${s}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, at)
                    VALUES ('Raw', $1, $2, 'x', '"s"', '"s"', '{}', 'applied', now()) RETURNING 1)
           UPDATE ${s}.saga_instances SET version = version + 1, snapshot = $4::jsonb, updated_at = now()
           WHERE saga = 'Raw' AND key = $1 AND version = $3`,
          [key, eventId, version, JSON.stringify({ value: 's', context: { n: version } })],
        );
        if (res.rowCount !== 1) throw new Error('raw baseline lost a race');
      });

    for (const concurrency of [1, 16]) {
      const keys = Array.from({ length: concurrency }, () => `k-${newId()}`);
      await Promise.all(keys.map((k) => runtime.handle(ev('order.placed', k))));
      const saga = await timed(concurrency, ms, async (w) => void (await runtime.handle(ev('order.noted', keys[w]!))));
      const rawKeys = Array.from({ length: concurrency }, () => `r-${newId()}`);
      await Promise.all(rawKeys.map((k) => rawStep(k)));
      const raw = await timed(concurrency, ms, (w) => rawStep(rawKeys[w]!));
      results.push({
        name: `saga step, ${concurrency} concurrent instance${concurrency > 1 ? 's' : ''}`,
        unit: 'steps/s',
        value: Math.round(saga.rate),
        baselineName: 'raw SQL of one step',
        baseline: Math.round(raw.rate),
        ratio: saga.rate / raw.rate,
        goal: 0.6,
        notes: `p50 ${percentile(saga.latencies, 50).toFixed(2)} ms, p99 ${percentile(saga.latencies, 99).toFixed(2)} ms (raw p50 ${percentile(raw.latencies, 50).toFixed(2)} ms)`,
      });
      ctx.log(`saga step c=${concurrency}: ${saga.rate.toFixed(0)}/s vs raw ${raw.rate.toFixed(0)}/s`);

      const completions = await timed(concurrency, ms, async () => {
        const k = `c-${newId()}`;
        await runtime.handle(ev('order.placed', k));
        await runtime.handle(ev('payment.failed', k));
        await runtime.handle(ev('stock.released', k));
      });
      const rawCompletions = await timed(concurrency, ms, async () => {
        const k = `rc-${newId()}`;
        for (let i = 0; i < 3; i++) await rawStep(k);
      });
      results.push({
        name: `3-step saga completions, ${concurrency} concurrent`,
        unit: 'completions/s',
        value: Math.round(completions.rate),
        baselineName: 'raw SQL of 3 steps',
        baseline: Math.round(rawCompletions.rate),
        ratio: completions.rate / rawCompletions.rate,
        goal: 0.6,
        notes: `p50 ${percentile(completions.latencies, 50).toFixed(2)} ms, p99 ${percentile(completions.latencies, 99).toFixed(2)} ms per completion`,
      });
    }
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => undefined);
    await db.close();
  }
  return results;
}
