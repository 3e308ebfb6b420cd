/**
 * Flat cost (issue 13, G5): does a step get slower, and does the daemon grow, as instances pile up?
 *
 * - **Step latency with many stored instances.** Two schemas on the same server: one seeded with 1,000
 *   completed `Order` instances, one with 1,000,000 (100,000 with `--quick`), each with its history row and
 *   inbox row (seeded in SQL from a real instance's rows, then `VACUUM ANALYZE`). Then steps on new instances
 *   (`order.placed`, `order.noted`, one at a time through `SagaRuntime.handle`) in alternating slices on the
 *   two schemas. Figure: p99 step latency at 1k / at 1M (goal: at 1M at most 1.5× the 1k figure, so the
 *   ratio ≥ 0.67).
 * - **Daemon RSS with 100,000 running instances** (10,000 with `--quick`): a daemon in a process of its own
 *   (`bench/support/daemon-child.ts`) on a schema seeded with that many running instances and their two
 *   timers each, after it applied 2,000 `order.noted` events posted over HTTP to random ones of them; its
 *   VmRSS against the same daemon's on an empty schema after 2,000 `order.placed` starting new instances
 *   (baseline). Goal ≤ 150 MB. The child is compiled first (into node_modules/.cache/sagaflow-bench) and runs
 *   on plain node, as a user's daemon does: a TypeScript loader would add ~40 MB of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createEvent } from '../src/core/events/envelope.js';
import { newId } from '../src/core/ids.js';
import { quoteSchema } from '../src/postgres/identifiers.js';
import { migrate } from '../src/postgres/migrate.js';
import { PgDb } from '../src/postgres/pg-db.js';
import { PostgresSagaRepository } from '../src/postgres/saga-repository.js';
import { SagaRuntime } from '../src/runtime/saga-runtime.js';
import { compileForNode } from '../test/support/compile.js';
import { OrderSaga } from '../test/support/test-saga.js';
import type { BenchContext, BenchResult } from './types.js';

const ev = (type: string, orderId: string) => createEvent({ type, streamId: orderId, data: { orderId } });

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Seeds `n` instances of `status` cloned from a real one (its snapshot, history and inbox rows), in SQL. */
async function seed(db: PgDb, schema: string, runtime: SagaRuntime, n: number, status: 'completed' | 'running'): Promise<void> {
  const s = quoteSchema(schema);
  const k = `sample-${newId()}`;
  await runtime.handle(ev('order.placed', k));
  if (status === 'completed') await runtime.handle(ev('payment.succeeded', k));
  const chunk = 100_000;
  for (let from = 1; from <= n; from += chunk) {
    const to = Math.min(n, from + chunk - 1);
    await db.query(
      `INSERT INTO ${s}.saga_instances (saga, key, version, definition_version, status, state, context, snapshot, created_at, updated_at)
       SELECT saga, 'seed-' || g, version, definition_version, status, state, context, snapshot, created_at, updated_at
       FROM ${s}.saga_instances, generate_series($2::int, $3::int) g WHERE saga = 'Order' AND key = $1`,
      [k, from, to],
    );
    await db.query(
      `INSERT INTO ${s}.saga_inbox (saga, key, event_id) SELECT 'Order', 'seed-' || g, gen_random_uuid()::text FROM generate_series($1::int, $2::int) g`,
      [from, to],
    );
    await db.query(
      `INSERT INTO ${s}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, note, at)
       SELECT saga, 'seed-' || g, gen_random_uuid()::text, event_type, from_state, to_state, effects, kind, note, at
       FROM ${s}.saga_history, generate_series($2::int, $3::int) g WHERE saga = 'Order' AND key = $1`,
      [k, from, to],
    );
    if (status === 'running') {
      await db.query(
        `INSERT INTO ${s}.timers (saga, key, timer_id, event, due_at)
         SELECT saga, 'seed-' || g, timer_id, event, due_at + interval '1 day'
         FROM ${s}.timers, generate_series($2::int, $3::int) g WHERE saga = 'Order' AND key = $1`,
        [k, from, to],
      );
    }
  }
  await db.query(`VACUUM ANALYZE ${s}.saga_instances`);
  await db.query(`VACUUM ANALYZE ${s}.saga_inbox`);
  await db.query(`VACUUM ANALYZE ${s}.saga_history`);
  await db.query(`VACUUM ANALYZE ${s}.timers`);
}

/** Steps on new instances for `ms`, one at a time; returns the step latencies. */
async function steps(runtime: SagaRuntime, ms: number): Promise<number[]> {
  const latencies: number[] = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    const k = `new-${newId()}`;
    for (const type of ['order.placed', 'order.noted', 'order.noted']) {
      const t0 = performance.now();
      await runtime.handle(ev(type, k));
      latencies.push(performance.now() - t0);
    }
  }
  return latencies;
}

const root = path.resolve(import.meta.dirname, '..');
const buildDir = path.join(root, 'node_modules/.cache/sagaflow-bench');
const childEntry = path.join(buildDir, 'dist/bench/support/daemon-child.js');

/** Compiles the daemon child (with src and the test saga) to plain JavaScript. */
function buildChild(): void {
  compileForNode(buildDir, ['bench/support/daemon-child.ts', 'test/support/test-saga.ts'], [childEntry]);
}

/** Starts the daemon child on `schema`; resolves with it, its URL and token once it is ready. */
function startChild(databaseUrl: string, schema: string): Promise<{ child: ChildProcess; url: string; token: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childEntry], {
      env: { ...process.env, BENCH_DATABASE_URL: databaseUrl, BENCH_SCHEMA: schema },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready (\S+) (\S+)\n/.exec(out);
      if (m) resolve({ child, url: m[1]!, token: m[2]! });
    });
    child.on('exit', (code) => reject(new Error(`daemon child exited (${code}) before it was ready: ${err}`)));
  });
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** 2,000 events of `type` posted to the daemon (8 at a time) for `keys`, then waits until all are in history. */
async function drive(db: PgDb, schema: string, url: string, token: string, type: string, keys: () => string): Promise<void> {
  const total = 2000;
  let sent = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (sent < total) {
        sent++;
        const key = keys();
        const res = await fetch(`${url}/v1/events`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ type, streamId: key, data: { orderId: key } }),
        });
        await res.arrayBuffer();
        if (res.status !== 201) throw new Error(`publish answered ${res.status}`);
      }
    }),
  );
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${quoteSchema(schema)}.saga_history WHERE event_type = $1`, [type]);
    if (rows[0]!.n >= total) return;
    if (Date.now() > deadline) throw new Error(`the daemon applied ${rows[0]!.n} of ${total} events in 120 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export default async function bench(ctx: BenchContext): Promise<BenchResult[]> {
  if (!ctx.databaseUrl) {
    ctx.log('flat-cost bench: no database URL, skipped');
    return [];
  }
  const tag = Date.now().toString(36);
  const schemas = { small: `bench_flat_1k_${tag}`, big: `bench_flat_big_${tag}`, running: `bench_flat_run_${tag}`, empty: `bench_flat_empty_${tag}` };
  const big = ctx.quick ? 100_000 : 1_000_000;
  const running = ctx.quick ? 10_000 : 100_000;
  const db = new PgDb({ connectionString: ctx.databaseUrl, max: 4, applicationName: 'sagaflow-bench' });
  const results: BenchResult[] = [];
  try {
    const runtimes: Record<'small' | 'big', SagaRuntime> = {} as never;
    for (const [name, n] of [['small', 1000], ['big', big]] as const) {
      await migrate(db, { schema: schemas[name] });
      runtimes[name] = new SagaRuntime({ repository: new PostgresSagaRepository(db, { schema: schemas[name] }), sagas: [OrderSaga], timers: false });
      const t0 = performance.now();
      await seed(db, schemas[name], runtimes[name], n, 'completed');
      ctx.log(`seeded ${n.toLocaleString('en-US')} completed instances in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    const lat = { small: [] as number[], big: [] as number[] };
    const slice = ctx.quick ? 1000 : 2500;
    for (let i = 0; i < 4; i++) for (const name of ['small', 'big'] as const) lat[name].push(...(await steps(runtimes[name], slice)));
    lat.small.sort((a, b) => a - b);
    lat.big.sort((a, b) => a - b);
    const [p99Small, p99Big] = [percentile(lat.small, 99), percentile(lat.big, 99)];
    results.push({
      name: `step p99 with ${big.toLocaleString('en-US')} stored instances vs 1,000 (as 1/p99)`,
      unit: '1/s at p99',
      value: 1000 / p99Big,
      baselineName: 'the same steps with 1,000 stored instances',
      baseline: 1000 / p99Small,
      ratio: p99Small / p99Big,
      goal: 0.67, // at 1M at most 1.5× the 1k p99
      notes: `p99 ${p99Big.toFixed(2)} ms vs ${p99Small.toFixed(2)} ms, p50 ${percentile(lat.big, 50).toFixed(2)} ms vs ${percentile(lat.small, 50).toFixed(2)} ms; ${lat.big.length} and ${lat.small.length} steps, alternating slices`,
    });
    ctx.log(`step p99 at ${big}: ${p99Big.toFixed(2)} ms, at 1k: ${p99Small.toFixed(2)} ms`);

    // Daemon RSS: 100k running instances vs an empty schema, each after 2,000 events.
    buildChild();
    const rss: Record<'running' | 'empty', number> = { running: 0, empty: 0 };
    for (const name of ['empty', 'running'] as const) {
      await migrate(db, { schema: schemas[name] });
      if (name === 'running') {
        const seeder = new SagaRuntime({ repository: new PostgresSagaRepository(db, { schema: schemas[name] }), sagas: [OrderSaga], timers: false });
        await seed(db, schemas[name], seeder, running, 'running');
      }
      const { child, url, token } = await startChild(ctx.databaseUrl, schemas[name]);
      try {
        let n = 0;
        if (name === 'running') await drive(db, schemas[name], url, token, 'order.noted', () => `seed-${1 + Math.floor(Math.random() * running)}`);
        else await drive(db, schemas[name], url, token, 'order.placed', () => `fresh-${n++}`);
        rss[name] = rssMb(child.pid!);
      } finally {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
    results.push({
      name: `daemon RSS with ${running.toLocaleString('en-US')} running instances`,
      unit: 'MB',
      value: Math.round(rss.running),
      baselineName: 'the same daemon on an empty schema',
      baseline: Math.round(rss.empty),
      ratio: rss.running / rss.empty,
      notes: `VmRSS after 2,000 events applied; goal ≤ 150 MB: ${rss.running <= 150 ? 'pass' : 'short'}`,
    });
    ctx.log(`RSS with ${running} running instances: ${rss.running.toFixed(0)} MB (empty schema: ${rss.empty.toFixed(0)} MB)`);
  } finally {
    for (const schema of Object.values(schemas)) await db.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`).catch(() => undefined);
    await db.close();
  }
  return results;
}
