/**
 * End-to-end saga flow through the daemon, as a user runs it: `startDaemon({ config, sagas: [ThreeHop] })`,
 * a saga of three command/reply hops (`hop.started` → `a.req`/`a.done` → `b.req`/`b.done` → `c.req`/`c.done`
 * → completed), answered by in-process workers (`defineHandler`, run by the daemon as `sagaflow run` runs a
 * sagas module's handlers): each command reaches its worker through the worker feed and a claim, and each reply
 * is stored with the command's completion (ADR 0010).
 *
 * One completion = publish `hop.started` … a subscriber receives `hop.finished`, which the completing step emits.
 * Measured at 1 in flight (sequential sagas) and 16 in flight, on each set-up:
 * - Postgres + memory bus (with a database URL), Postgres + Redis bus (with both URLs),
 * - embedded PGlite + memory bus (always; a fresh data directory).
 * Each run gets a fresh schema (dropped afterwards on Postgres), a fresh data directory and, with Redis, a
 * fresh key prefix (its stream deleted afterwards).
 *
 * Baseline (same run, same database): the raw cost of the commits such a saga needs, 8 single-row
 * `BEGIN; INSERT; COMMIT` transactions into a scratch table per completion, run sequentially (1 loop) or in
 * 16 concurrent loops. Goal 0.5×: per-completion latency at most 2× the sum of its raw commits.
 *
 * Side by side with DBOS Transact (Postgres set-ups): its workflow of three checkpointed trivial steps, started
 * and awaited in process (`bench/dbos-baseline.ts`), on the same server, in rounds alternating with ours (DBOS,
 * sagaflow, DBOS, sagaflow) at 1 and 16 in flight. Reported: completions/s and p50/p99 of both, and write
 * transactions per completion (the server's transaction-id counter before and after a round: every
 * transaction that wrote, i.e. every commit that flushes WAL, whoever ran it — DBOS's background loops add
 * about one a second to its rounds). Goals (issue 13): G1 at 16 in flight ≥ 3× DBOS with the memory bus,
 * ≥ 2× with Redis; G2 at 1 in flight p50 ≤ DBOS's p50.
 *
 * Each completion has a 30 s deadline: a hung flow fails loudly with the saga's last state, never hangs.
 * Each mode stops at N completions or its time budget, whichever comes first (the count is in the notes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { Redis } from 'ioredis';
import pg from 'pg';
import { emit, setup } from 'xstate';
import { z } from 'zod';
import { loadConfig } from '../src/config/load-config.js';
import type { SagaflowConfig } from '../src/config/schema.js';
import type { EventEnvelope } from '../src/core/events/envelope.js';
import { defineHandler, type HandlerDefinition } from '../src/core/worker/define-handler.js';
import { newId } from '../src/core/ids.js';
import type { Subscription } from '../src/core/ports/event-bus.js';
import { defineSaga } from '../src/core/saga/define-saga.js';
import { startDaemon, type Daemon } from '../src/daemon/daemon.js';
import { quoteSchema } from '../src/postgres/identifiers.js';
import { startDbosBaseline, type DbosBaseline } from './dbos-baseline.js';
import type { BenchContext, BenchResult } from './types.js';

// ---------------------------------------------------------------------------------------------------------
// The saga

const hopData = z.object({ id: z.string().min(1) });
const hopEvents = { 'hop.started': hopData, 'a.done': hopData, 'b.done': hopData, 'c.done': hopData } as const;
type HopEventType = keyof typeof hopEvents;
type HopEvent = { [T in HopEventType]: { type: T; data: { id: string }; envelope?: EventEnvelope } }[HopEventType];
/** A command the saga emits: on stream `hop-<id>`, so that the service replies on the same stream. */
interface HopCommand {
  type: 'a.req' | 'b.req' | 'c.req' | 'hop.finished';
  data: { id: string };
  streamId: string;
}

const streamOf = (id: string) => `hop-${id}`;
const hopCommand = (type: HopCommand['type'], id: string): HopCommand => ({ type, data: { id }, streamId: streamOf(id) });

const threeHopMachine = setup({
  types: {
    context: {} as { id: string },
    events: {} as HopEvent,
    input: {} as { key: string; event?: unknown },
    emitted: {} as HopCommand,
  },
  actions: {
    requestA: emit(({ context }) => hopCommand('a.req', context.id)),
    requestB: emit(({ context }) => hopCommand('b.req', context.id)),
    requestC: emit(({ context }) => hopCommand('c.req', context.id)),
    // Completion is observable by a subscriber (the harness), as a downstream service would learn of it.
    announceFinished: emit(({ context }) => hopCommand('hop.finished', context.id)),
  },
}).createMachine({
  id: 'ThreeHop',
  context: ({ input }) => ({ id: input.key }),
  initial: 'idle',
  states: {
    idle: { on: { 'hop.started': 'awaitingA' } },
    awaitingA: { entry: 'requestA', on: { 'a.done': 'awaitingB' } },
    awaitingB: { entry: 'requestB', on: { 'b.done': 'awaitingC' } },
    awaitingC: { entry: 'requestC', on: { 'c.done': 'completed' } },
    completed: { type: 'final', entry: 'announceFinished' },
  },
});

const byId = (e: EventEnvelope) => String(e.data.id);

/** Three command/reply hops, keyed by `data.id`. */
export const ThreeHop = defineSaga({
  name: 'ThreeHop',
  version: 1,
  machine: threeHopMachine,
  events: hopEvents,
  correlate: { 'hop.started': byId, 'a.done': byId, 'b.done': byId, 'c.done': byId },
  startedBy: ['hop.started'],
});

// ---------------------------------------------------------------------------------------------------------
// Harness

/** Deadline of one completion. */
const COMPLETION_TIMEOUT_MS = 30_000;
/**
 * Raw commits per completion in the baseline: what the flow itself must commit — 4 appends (`hop.started`
 * and the 3 replies) and 4 saga steps (each emitted command is appended inside its step). The readers'
 * checkpoint saves are not counted: they are overhead the flow should amortise.
 */
const RAW_COMMITS = 8;
const WARMUP = 5;

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface Measured {
  rate: number;
  latencies: number[];
  count: number;
}

/** Runs `work` in `concurrency` loops until `n` ran or `budgetMs` elapsed (each loop finishes its current one). */
async function measure(concurrency: number, n: number, budgetMs: number, work: () => Promise<void>): Promise<Measured> {
  const latencies: number[] = [];
  let started = 0;
  const start = performance.now();
  const end = start + budgetMs;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (started < n && performance.now() < end) {
        started++;
        const t0 = performance.now();
        await work();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  return { rate: latencies.length / seconds, latencies: latencies.sort((a, b) => a - b), count: latencies.length };
}

/** Rejects after `ms` with `message()` (evaluated then, so it can describe the state at that moment). */
async function withDeadline<T>(promise: Promise<T>, deadline: number, message: () => Promise<string>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => void message().then((m) => reject(new Error(m)), (err: unknown) => reject(err as Error)), Math.max(0, deadline - performance.now()));
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The three services: in-process workers (`defineHandler`), as `sagaflow run` runs a sagas module's handlers. */
function hopWorkers(lastReply: Map<string, string>): HandlerDefinition[] {
  const answers = { 'a.req': 'a.done', 'b.req': 'b.done', 'c.req': 'c.done' } as const;
  return Object.entries(answers).map(([command, reply]) =>
    defineHandler({
      name: `bench-${command.replace('.', '-')}`,
      handles: command,
      // Enough commands in flight that the services never limit 16 sagas in flight.
      concurrency: 16,
      handle: (event) => {
        const id = String(event.data.id);
        lastReply.set(id, reply);
        return { type: reply, data: { id } };
      },
    }),
  );
}

/** The daemon with its in-process services, ready to run completions. */
class Flow {
  private readonly waiters = new Map<string, () => void>();
  /** Last hop each instance's services answered, for the timeout message. */
  readonly lastReply = new Map<string, string>();
  private subscriptions: Subscription[] = [];
  daemon!: Daemon;

  async start(startWith: (handlers: HandlerDefinition[]) => Promise<Daemon>): Promise<void> {
    this.daemon = await startWith(hopWorkers(this.lastReply));
    const bus = this.daemon.engine.bus;
    if (!bus) throw new Error('flow bench: the daemon has no bus (not in daemon mode?)');
    // Completion is observed by a subscriber (the harness), as a downstream service would learn of it.
    this.subscriptions.push(
      await bus.subscribe('hop.finished', async (event) => this.waiters.get(String(event.data.id))?.(), { group: 'bench.flow.finished', concurrency: 16 }),
    );
  }

  /** One saga from `hop.started` to `completed`. */
  async complete(): Promise<void> {
    const id = newId();
    const deadline = performance.now() + COMPLETION_TIMEOUT_MS;
    const finished = new Promise<void>((resolve) => this.waiters.set(id, resolve));
    const describe = async () => {
      const instance = await this.daemon.engine.repository.get(ThreeHop.name, id).catch(() => undefined);
      const where = instance ? `state ${JSON.stringify(instance.state)}, status ${instance.status}` : 'no instance';
      return `flow bench: ThreeHop ${id} did not complete within ${COMPLETION_TIMEOUT_MS / 1000} s (${where}; last reply published: ${this.lastReply.get(id) ?? 'none'})`;
    };
    try {
      await withDeadline(
        (async () => {
          await this.daemon.engine.operator.publish({ type: 'hop.started', streamId: streamOf(id), data: { id } });
          // Done when a subscriber receives `hop.finished`, emitted by the step that completes the saga: no
          // polling of the read side (on PGlite's one connection a poll competes with the flow itself).
          await finished;
        })(),
        deadline,
        describe,
      );
    } finally {
      this.waiters.delete(id);
      this.lastReply.delete(id);
    }
  }

  async stop(): Promise<void> {
    for (const s of this.subscriptions.splice(0)) await s.unsubscribe().catch(() => undefined);
    await this.daemon.stop({ timeoutMs: 5000 });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Raw baselines: 7 × (BEGIN; INSERT one row; COMMIT) per completion

interface RawLoop {
  /** One "completion": RAW_COMMITS single-row transactions, one after the other. */
  completion(): Promise<void>;
  close(): Promise<void>;
}

const rawPayload = (k: string) => JSON.stringify({ id: newId(), type: 'a.done', streamId: `hop-${k}`, data: { id: k } });

async function rawPostgres(url: string, schema: string): Promise<RawLoop> {
  const s = quoteSchema(schema);
  const pool = new pg.Pool({ connectionString: url, max: 20, application_name: 'sagaflow-bench-raw' });
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${s}.raw_commits (id bigserial PRIMARY KEY, k text NOT NULL, payload jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())`);
  return {
    async completion() {
      const k = newId();
      const client = await pool.connect();
      try {
        for (let i = 0; i < RAW_COMMITS; i++) {
          await client.query('BEGIN');
          await client.query(`INSERT INTO ${s}.raw_commits (k, payload) VALUES ($1, $2)`, [k, rawPayload(k)]);
          await client.query('COMMIT');
        }
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

async function rawPglite(dataDir: string): Promise<RawLoop> {
  const db = new PGlite(dataDir);
  await db.waitReady;
  await db.exec('CREATE TABLE raw_commits (id bigserial PRIMARY KEY, k text NOT NULL, payload jsonb NOT NULL, at timestamptz NOT NULL DEFAULT now())');
  return {
    async completion() {
      const k = newId();
      for (let i = 0; i < RAW_COMMITS; i++) {
        await db.transaction(async (tx) => {
          await tx.query('INSERT INTO raw_commits (k, payload) VALUES ($1, $2)', [k, rawPayload(k)]);
        });
      }
    },
    close: () => db.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Side by side with DBOS

/** The server's next transaction id: its growth over a round counts the write transactions in it. */
async function nextXid(pool: pg.Pool): Promise<bigint> {
  const { rows } = await pool.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x');
  return BigInt(rows[0]!.x);
}

interface Round {
  completions: number;
  latencies: number[];
  elapsedMs: number;
  writes: number;
}

function merge(rounds: Round[]): { rate: number; latencies: number[]; count: number; writesPer: number } {
  const latencies = rounds.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const completions = rounds.reduce((n, r) => n + r.completions, 0);
  const seconds = rounds.reduce((n, r) => n + r.elapsedMs, 0) / 1000;
  // Each round's own pg_current_xact_id() calls took one id each: not counted.
  const writes = rounds.reduce((n, r) => n + r.writes - 1, 0);
  return { rate: completions / seconds, latencies, count: completions, writesPer: writes / Math.max(1, completions) };
}

/** Alternating rounds of DBOS and of our flow; two result rows (throughput, and latency at 1 in flight). */
async function versusDbos(ctx: BenchContext, setUp: SetUp, flow: Flow, dbos: DbosBaseline, mode: { concurrency: number; n: number; budgetMs: number }): Promise<BenchResult[]> {
  const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 1 });
  const ours: Round[] = [];
  const theirs: Round[] = [];
  const perRound = { n: Math.ceil(mode.n / 2), budgetMs: Math.ceil(mode.budgetMs / 2) };
  try {
    for (let i = 0; i < 2; i++) {
      let x0 = await nextXid(pool);
      const d = await dbos.round({ inFlight: mode.concurrency, count: perRound.n, budgetMs: perRound.budgetMs });
      theirs.push({ completions: d.completions, latencies: d.latenciesMs, elapsedMs: d.elapsedMs, writes: Number((await nextXid(pool)) - x0) });
      x0 = await nextXid(pool);
      const m = await measure(mode.concurrency, perRound.n, perRound.budgetMs, () => flow.complete());
      ours.push({ completions: m.count, latencies: m.latencies, elapsedMs: (m.count / m.rate) * 1000, writes: Number((await nextXid(pool)) - x0) });
    }
  } finally {
    await pool.end();
  }
  const [a, b] = [merge(ours), merge(theirs)];
  const ms = (x: number) => x.toFixed(1);
  const p = (r: { latencies: number[] }, q: number) => percentile(r.latencies, q);
  const notes =
    `sagaflow p50 ${ms(p(a, 50))} ms, p99 ${ms(p(a, 99))} ms, ${a.writesPer.toFixed(1)} write tx/completion, n=${a.count}; ` +
    `DBOS p50 ${ms(p(b, 50))} ms, p99 ${ms(p(b, 99))} ms, ${b.writesPer.toFixed(1)} write tx/completion, n=${b.count}; alternating rounds`;
  ctx.log(`${setUp.name}, ${mode.concurrency} in flight vs DBOS: ${a.rate.toFixed(1)}/s vs ${b.rate.toFixed(1)}/s (${notes})`);
  const results: BenchResult[] = [{
    name: `3-hop saga vs DBOS 3-step workflow, ${setUp.name}, ${mode.concurrency} in flight`,
    unit: 'completions/s',
    value: a.rate,
    baselineName: 'DBOS Transact 5.3, same Postgres',
    baseline: b.rate,
    ratio: a.rate / b.rate,
    ...(mode.concurrency > 1 ? { goal: setUp.bus === 'redis' ? 2 : 3 } : {}),
    notes,
  }];
  if (mode.concurrency === 1) {
    results.push({
      name: `p50 per completion vs DBOS, ${setUp.name}, 1 in flight (as 1/p50)`,
      unit: '1/s at p50',
      value: 1000 / p(a, 50),
      baselineName: 'DBOS Transact 5.3, same Postgres',
      baseline: 1000 / p(b, 50),
      ratio: p(b, 50) / p(a, 50),
      goal: 1,
      notes: `sagaflow p50 ${ms(p(a, 50))} ms, DBOS p50 ${ms(p(b, 50))} ms`,
    });
  }
  return results;
}

// ---------------------------------------------------------------------------------------------------------
// Set-ups

interface SetUp {
  name: string;
  store: 'postgres' | 'pglite';
  bus: 'memory' | 'redis';
}

function buildConfig(ctx: BenchContext, setUp: SetUp, run: { schema: string; dataDir: string; redisPrefix: string }): SagaflowConfig {
  // Built the way the CLI builds it (defaults < flags), from no environment and no config file.
  const { config } = loadConfig({
    env: {},
    cwd: run.dataDir,
    flags: {
      dataDir: run.dataDir,
      'database.schema': run.schema,
      'store.type': setUp.store,
      ...(setUp.store === 'postgres' ? { 'database.url': ctx.databaseUrl } : {}),
      'bus.type': setUp.bus,
      ...(setUp.bus === 'redis' ? { 'redis.url': ctx.redisUrl, 'redis.channelPrefix': run.redisPrefix } : {}),
      'http.port': 0,
      'http.token': `bench-${newId()}`,
      'log.level': 'silent',
    },
  });
  return config;
}

async function runSetUp(ctx: BenchContext, setUp: SetUp, dbos: DbosBaseline | undefined): Promise<BenchResult[]> {
  const tag = `${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const run = { schema: `bench_flow_${tag}`, dataDir: mkdtempSync(path.join(os.tmpdir(), 'sagaflow-bench-flow-')), redisPrefix: `sagaflow:bench:flow:${tag}` };
  const config = buildConfig(ctx, setUp, run);
  const modes = [
    { concurrency: 1, n: ctx.quick ? 50 : 200, budgetMs: ctx.quick ? 7_000 : 20_000 },
    { concurrency: 16, n: ctx.quick ? 200 : 1000, budgetMs: ctx.quick ? 7_000 : 20_000 },
  ];
  const results: BenchResult[] = [];
  let flow: Flow | undefined;
  let raw: RawLoop | undefined;
  const t0 = performance.now();
  try {
    flow = new Flow();
    await flow.start((handlers) => startDaemon({ config, sagas: [ThreeHop], handlers }));
    ctx.log(`${setUp.name}: daemon on ${flow.daemon.url} (schema ${run.schema}) up in ${(performance.now() - t0).toFixed(0)} ms`);
    raw = setUp.store === 'postgres' ? await rawPostgres(ctx.databaseUrl!, run.schema) : await rawPglite(path.join(run.dataDir, 'raw'));
    for (let i = 0; i < WARMUP; i++) {
      await flow.complete();
      await raw.completion();
    }
    for (const mode of modes) {
      // Baseline first, then the saga, on the same database, each stopping at the same N or budget.
      const base = await measure(mode.concurrency, mode.n, mode.budgetMs, () => raw!.completion());
      const saga = await measure(mode.concurrency, mode.n, mode.budgetMs, () => flow!.complete());
      const ms = (x: number) => x.toFixed(1);
      results.push({
        name: `3-hop flow via daemon, ${setUp.name}, ${mode.concurrency} in flight`,
        unit: 'completions/s',
        value: saga.rate,
        baselineName: `raw ${RAW_COMMITS} commits${mode.concurrency > 1 ? ` × ${mode.concurrency} loops` : ''} (${setUp.store})`,
        baseline: base.rate,
        ratio: saga.rate / base.rate,
        goal: 0.5,
        notes:
          `p50 ${ms(percentile(saga.latencies, 50))} ms, p99 ${ms(percentile(saga.latencies, 99))} ms per completion, n=${saga.count}` +
          ` (raw p50 ${ms(percentile(base.latencies, 50))} ms, p99 ${ms(percentile(base.latencies, 99))} ms, n=${base.count})`,
      });
      ctx.log(`${setUp.name}, ${mode.concurrency} in flight: ${saga.rate.toFixed(1)}/s (n=${saga.count}, p50 ${ms(percentile(saga.latencies, 50))} ms) vs raw ${base.rate.toFixed(1)}/s`);
      if (dbos && setUp.store === 'postgres') results.push(...(await versusDbos(ctx, setUp, flow, dbos, mode)));
    }
  } finally {
    await flow?.stop().catch((err: unknown) => ctx.log(`${setUp.name}: daemon stop failed: ${String(err)}`));
    await raw?.close().catch(() => undefined);
    if (setUp.store === 'postgres') {
      const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 1 });
      await pool.query(`DROP SCHEMA IF EXISTS ${quoteSchema(run.schema)} CASCADE`).catch((err: unknown) => ctx.log(`drop schema ${run.schema} failed: ${String(err)}`));
      await pool.end();
    }
    if (setUp.bus === 'redis') {
      const redis = new Redis(ctx.redisUrl!, { lazyConnect: true, maxRetriesPerRequest: 1 });
      await redis.connect().then(async () => {
        const keys = await redis.keys(`${run.redisPrefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      }).catch((err: unknown) => ctx.log(`redis cleanup failed: ${String(err)}`));
      redis.disconnect();
    }
    rmSync(run.dataDir, { recursive: true, force: true });
    ctx.log(`${setUp.name}: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return results;
}

export default async function bench(ctx: BenchContext): Promise<BenchResult[]> {
  const setUps: SetUp[] = [];
  if (ctx.databaseUrl) setUps.push({ name: 'Postgres + memory bus', store: 'postgres', bus: 'memory' });
  else ctx.log('no database URL: Postgres set-ups skipped');
  if (ctx.databaseUrl && ctx.redisUrl) setUps.push({ name: 'Postgres + Redis bus', store: 'postgres', bus: 'redis' });
  else if (ctx.databaseUrl) ctx.log('no Redis URL: Postgres + Redis set-up skipped');
  setUps.push({ name: 'PGlite', store: 'pglite', bus: 'memory' });
  const results: BenchResult[] = [];
  const dbos = ctx.databaseUrl ? await startDbosBaseline({ databaseUrl: ctx.databaseUrl }) : undefined;
  try {
    for (const setUp of setUps) results.push(...(await runSetUp(ctx, setUp, dbos)));
  } finally {
    await dbos?.close();
  }
  return results;
}
