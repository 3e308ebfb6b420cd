/**
 * Where the time of one completion of the flow bench's three-hop saga goes (issue 8's latency goal), at 1 in
 * flight on Postgres + memory bus, counted rather than only timed (the machine is shared):
 *
 * - SQL statements per completion, split into the flow's own (publish, reads of the log, steps, work items,
 *   completions) and the background's (checkpoint and lease saves, claims that find nothing, the timer poller,
 *   the feed's list of workers, upkeep);
 * - write transactions per completion (growth of the server's transaction-id counter, as the flow bench);
 * - timers that fired during the measured completions, by where they were set: a hop that waited on a timer
 *   would show one here with the flow's own code as its site;
 * - p50 of the completion and of the raw baseline (8 × BEGIN; INSERT; COMMIT), in alternating rounds;
 * - CPU per completion of this process (the daemon and the harness) and of the server's `postgres` processes
 *   (from /proc): figures a busy, shared machine disturbs far less than latencies.
 *
 * `C=16` runs 16 completions in flight (and the baseline in 16 loops); the counts are then per completion of a
 * concurrent flow, not a sequential path.
 *
 * `TRACE=1` also prints the timeline of one completion: every statement as it ends (connection, duration,
 * start of the SQL), the handlers, and the timers as they fire.
 *
 *   source /tmp/env.sh   # SAGAFLOW_TEST_DATABASE_URL
 *   N=25 ROUNDS=2 [C=1] [TRACE=1] node --conditions=sagaflow-source --import tsx bench/support/trace-flow.ts
 *
 * It patches `pg.Client.prototype.query` and `setTimeout` of this process to count: a measuring tool, not a
 * bench of `npm run bench`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { loadConfig } from '../../src/config/load-config.js';
import { defineHandler } from '../../src/core/worker/define-handler.js';
import { newId } from '../../src/core/ids.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { ThreeHop } from '../flow.bench.js';

const url = process.env.SAGAFLOW_TEST_DATABASE_URL ?? process.env.SAGAFLOW_BENCH_DATABASE_URL;
if (!url) throw new Error('trace-flow: set SAGAFLOW_TEST_DATABASE_URL');
const N = Number(process.env.N ?? 25);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
/** Completions in flight (the raw baseline runs as many loops). */
const C = Number(process.env.C ?? 1);

// ---------------------------------------------------------------------------------------------------------
// Counting

/** Statements that are not the flow's: saves, idle claims, pollers, upkeep, the harness's own probe. */
const background: Array<[string, RegExp]> = [
  ['checkpoint/lease save', /^WITH async AS/],
  ['claim', /^WITH due AS/],
  ['timer poll', /\.timers WHERE due_at/],
  ['workers list', /\.workers ORDER BY/],
  ['upkeep', /attempts >= max_attempts|DELETE FROM .*work_items/],
  ['probe', /pg_current_xact_id\(\)/],
];
/** The flow's statements worth telling apart: reads of the log (one statement, or the fallback's two). */
const flowKinds: Array<[string, RegExp]> = [
  ['flow: read of the log', /^WITH snap AS MATERIALIZED/],
  ['flow: read of the log, two-statement fallback', /^WITH s AS \(SELECT pg_snapshot_xmax|^SELECT position, tx_id::text AS tx_text, .* tx_id < \$4/],
  ['flow: completion', /^WITH w_lock AS|^UPDATE .*work_items .* outcome = 'completed'|^INSERT INTO .*work_items AS w \(worker, event_id, position, max_attempts, attempts, leased_by, outcome/],
  ['flow: work items recorded', /^WITH async AS .*work_items/],
  ['flow: event step write', /^WITH lk AS MATERIALIZED/],
  ['flow: batch of steps (BEGIN … COMMIT)', /^(BEGIN|COMMIT|ROLLBACK)$/],
  ['flow: append lock in a transaction', /pg_advisory_xact_lock/],
  ['flow: instance reads', /saga_instances/],
  ['flow: publish', /^WITH .*e_input|INSERT INTO .*\.events/],
];
const kindOf = (sql: string) => background.find(([, re]) => re.test(sql))?.[0] ?? flowKinds.find(([, re]) => re.test(sql))?.[0] ?? 'flow: other';

let counting = false;
const statements = new Map<string, number>();
const timers = new Map<string, number>();
let timeline: string[] | undefined;
let t0 = 0;
const log = (s: string) => timeline?.push(`${(performance.now() - t0).toFixed(2).padStart(8)} ${s}`);
const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1);

const connections = new WeakMap<object, number>();
let nextConnection = 1;
const originalQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
if (!process.env.NOPATCH) (pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: object, config: unknown, values?: unknown, cb?: unknown) {
  const text = (typeof config === 'string' ? config : (config as { text?: string })?.text ?? '').replace(/\s+/g, ' ').trim();
  if (!connections.has(this)) connections.set(this, nextConnection++);
  if (counting) bump(statements, kindOf(text));
  const start = performance.now();
  const done = () => log(`c${connections.get(this)} ${(performance.now() - start).toFixed(2)}ms ${text.slice(0, 90)}`);
  const wrap = (f: unknown) => (typeof f === 'function' ? (err: unknown, res: unknown) => (done(), (f as (e: unknown, r: unknown) => void)(err, res)) : f);
  if (typeof values === 'function') values = wrap(values);
  else cb = wrap(cb);
  const r = originalQuery.call(this, config, values, cb);
  if (r instanceof Promise) r.then(done, done);
  return r;
};
const originalSetTimeout = globalThis.setTimeout;
if (!process.env.NOPATCH) (globalThis as unknown as { setTimeout: unknown }).setTimeout = (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) => {
  const site = (new Error().stack ?? '').split('\n').slice(2, 3).map((l) => l.trim().replace(/^at .*?\(?(?:file:\/\/)?.*?\/(src|bench|node_modules)\//, '$1/').replace(/\)$/, '')).join('');
  return originalSetTimeout(() => {
    if ((ms ?? 0) >= 1) {
      if (counting) bump(timers, site.replace(/:\d+$/, ''));
      log(`TIMER ${Math.round(ms!)}ms ${site}`);
    }
    fn(...args);
  }, ms);
};

// ---------------------------------------------------------------------------------------------------------
// The flow, and the raw baseline

const answers = { 'a.req': 'a.done', 'b.req': 'b.done', 'c.req': 'c.done' } as const;
const handlers = Object.entries(answers).map(([command, reply]) =>
  defineHandler({
    name: `bench-${command.replace('.', '-')}`, handles: command, concurrency: 16,
    handle: (event) => (log(`HANDLE ${command}`), { type: reply, data: { id: String(event.data.id) } }),
  }));
const schema = `trace_flow_${Date.now().toString(36)}`;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sagaflow-trace-'));
const { config } = loadConfig({
  env: {}, cwd: dataDir,
  flags: { dataDir, 'database.schema': schema, 'store.type': 'postgres', 'database.url': url, 'bus.type': 'memory', 'http.port': 0, 'http.token': `trace-${newId()}`, 'log.level': 'silent' },
});
const daemon = await startDaemon({ config, sagas: [ThreeHop], handlers });
const finished = new Map<string, () => void>();
await daemon.engine.bus!.subscribe('hop.finished', async (e) => (log('FINISHED'), finished.get(String(e.data.id))?.()), { group: 'trace.finished', concurrency: 16 });

async function completion(): Promise<void> {
  const id = newId();
  const done = new Promise<void>((r) => finished.set(id, r));
  await daemon.engine.operator.publish({ type: 'hop.started', streamId: `hop-${id}`, data: { id } });
  log('PUBLISHED');
  await done;
  finished.delete(id);
}

const pool = new pg.Pool({ connectionString: url, max: C + 1 });
const s = quoteSchema(schema);
await pool.query(`CREATE TABLE ${s}.raw_commits (id bigserial PRIMARY KEY, k text NOT NULL, payload jsonb NOT NULL)`);
async function raw(): Promise<void> {
  const k = newId();
  const client = await pool.connect();
  try {
    for (let i = 0; i < 8; i++) {
      await client.query('BEGIN');
      await client.query(`INSERT INTO ${s}.raw_commits (k, payload) VALUES ($1, $2)`, [k, JSON.stringify({ id: newId(), type: 'a.done', data: { id: k } })]);
      await client.query('COMMIT');
    }
  } finally {
    client.release();
  }
}
/** Runs `work` N times in C concurrent loops, pushing each latency to `into`. */
async function inLoops(work: () => Promise<void>, into: number[]): Promise<void> {
  let started = 0;
  await Promise.all(Array.from({ length: C }, async () => {
    while (started++ < N) {
      const t = performance.now();
      await work();
      into.push(performance.now() - t);
    }
  }));
}
/** CPU seconds×1000 used so far by the server's `postgres` processes (this machine's, from /proc; 0 where unreadable). */
function serverCpuMs(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (!stat.includes('(postgres)')) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // the process ended while we looked
    }
  }
  return (ticks * 1000) / 100; // USER_HZ
}
const xid = async () => BigInt((await pool.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x);

// ---------------------------------------------------------------------------------------------------------
// Rounds

try {
  for (let i = 0; i < 10; i++) await completion(); // warm-up
  const flow: number[] = [];
  const base: number[] = [];
  let writes = 0n;
  let cpuMs = 0;
  let serverMs = 0;
  for (let round = 0; round < ROUNDS; round++) {
    await inLoops(raw, base);
    const x0 = await xid();
    counting = true;
    const started = performance.now();
    const before = flow.length;
    const cpu0 = process.cpuUsage();
    const server0 = serverCpuMs();
    await inLoops(completion, flow);
    const cpu = process.cpuUsage(cpu0);
    serverMs += serverCpuMs() - server0;
    cpuMs += (cpu.user + cpu.system) / 1000;
    counting = false;
    if (process.env.ROUND_LOG) console.log(`round ${round + 1}: ${(((flow.length - before) * 1000) / (performance.now() - started)).toFixed(1)} completions/s`);
    writes += (await xid()) - x0 - 1n;
  }
  const n = flow.length;
  const p50 = (l: number[]) => [...l].sort((a, b) => a - b)[Math.floor(l.length / 2)]!;
  const per = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${(v / n).toFixed(2)} ${k}`);
  const total = [...statements.values()].reduce((a, b) => a + b, 0);
  console.log(`completions ${n} (${ROUNDS} rounds of ${N}, ${C} in flight, alternating with the raw baseline); load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`p50 ${p50(flow).toFixed(1)} ms; raw 8 commits p50 ${p50(base).toFixed(1)} ms; ratio ${(p50(flow) / p50(base)).toFixed(2)}x`);
  console.log(`CPU per completion: this process ${(cpuMs / n).toFixed(2)} ms, the server's postgres processes ${(serverMs / n).toFixed(2)} ms`);
  console.log(`write transactions per completion ${(Number(writes) / n).toFixed(2)}`);
  console.log(`statements per completion ${(total / n).toFixed(1)}:\n  ${per(statements).join('\n  ')}`);
  console.log(`timers fired per completion:\n  ${per(timers).join('\n  ') || 'none'}`);
  if (process.env.TRACE) {
    for (let i = 0; i < 5; i++) await completion(); // back to back, as in the rounds: the last one is traced
    timeline = [];
    t0 = performance.now();
    await completion();
    console.log(`one completion:\n${timeline.join('\n')}`);
    timeline = undefined;
  }
} finally {
  await daemon.stop({ timeoutMs: 5000 });
  await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
  await pool.end();
  rmSync(dataDir, { recursive: true, force: true });
}
