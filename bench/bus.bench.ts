/**
 * Event bus throughput. Memory bus vs Node's EventEmitter running the same async handler (goal ≥ 0.5×);
 * Redis bus end-to-end (publish → handler → XACK) vs a raw ioredis XADD + XREADGROUP + XACK loop doing the
 * same work (goal ≥ 0.7×), at publish batch sizes 1 and 100. Each measurement is bounded to a few seconds.
 */
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { createEvent, type EventEnvelope } from '../src/core/events/envelope.js';
import { createMemoryBus } from '../src/memory/event-bus.js';
import { createRedisBus } from '../src/redis/redis-event-bus.js';
import type { BenchContext, BenchResult } from './types.js';

/** The handler both sides run: a little async work per event. */
const makeHandler = () => {
  let n = 0;
  return {
    count: () => n,
    handle: async (e: EventEnvelope) => {
      await Promise.resolve();
      if (e.id) n++;
    },
  };
};

const events = (n: number) => Array.from({ length: n }, (_, i) => createEvent({ type: 'bench.tick', streamId: `s-${i % 64}`, data: { i } }));

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`bench timed out after ${timeoutMs} ms`);
    await new Promise((r) => setImmediate(r));
  }
}

async function memoryBus(n: number): Promise<number> {
  const bus = createMemoryBus({ bufferSize: 10_000, workers: 64 });
  const h = makeHandler();
  await bus.subscribe('bench.*', h.handle, { group: 'bench', concurrency: 64 });
  await bus.start();
  const list = events(n);
  const t0 = performance.now();
  for (const e of list) await bus.publish(e);
  await until(() => h.count() === n, 60_000);
  const secs = (performance.now() - t0) / 1000;
  await bus.stop();
  return n / secs;
}

async function emitter(n: number): Promise<number> {
  const ee = new EventEmitter();
  const h = makeHandler();
  ee.on('bench.tick', (e: EventEnvelope) => void h.handle(e));
  const list = events(n);
  const t0 = performance.now();
  for (const e of list) ee.emit(e.type, e);
  await until(() => h.count() === n, 60_000);
  return n / ((performance.now() - t0) / 1000);
}

async function redisBus(url: string, n: number, batch: number): Promise<number> {
  const prefix = `bench:${crypto.randomUUID()}`;
  const bus = createRedisBus({ url, prefix, readCount: 200, workers: 64 });
  const h = makeHandler();
  await bus.subscribe('bench.*', h.handle, { group: 'bench', concurrency: 64 });
  await bus.start();
  const list = events(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) await bus.publish(list.slice(i, i + batch));
  await until(() => h.count() === n, 120_000);
  const rate = n / ((performance.now() - t0) / 1000);
  await bus.client.del(`${prefix}:stream`);
  await bus.stop();
  return rate;
}

/** What a careful engineer writes by hand: pipelined XADD, XREADGROUP COUNT 200, handler, one XACK per read. */
async function rawRedis(url: string, n: number, batch: number): Promise<number> {
  const key = `bench:${crypto.randomUUID()}:raw`;
  const pub = new Redis(url);
  const sub = new Redis(url);
  await pub.xgroup('CREATE', key, 'g', '$', 'MKSTREAM');
  const h = makeHandler();
  let running = true;
  const reader = (async () => {
    while (running) {
      const res = (await sub.xreadgroup('GROUP', 'g', 'c', 'COUNT', 200, 'BLOCK', 100, 'STREAMS', key, '>')) as Array<[string, Array<[string, string[]]>]> | null;
      for (const [, entries] of res ?? []) {
        await Promise.all(entries.map(([, f]) => h.handle(JSON.parse(f[1]!) as EventEnvelope)));
        if (entries.length > 0) await sub.xack(key, 'g', ...entries.map(([id]) => id));
      }
    }
  })();
  const list = events(n);
  const t0 = performance.now();
  for (let i = 0; i < n; i += batch) {
    const p = pub.pipeline();
    for (const e of list.slice(i, i + batch)) p.xadd(key, 'MAXLEN', '~', '1000000', '*', 'e', JSON.stringify(e), 'k', e.streamId);
    await p.exec();
  }
  await until(() => h.count() === n, 120_000);
  const rate = n / ((performance.now() - t0) / 1000);
  running = false;
  await reader;
  await pub.del(key);
  pub.disconnect();
  sub.disconnect();
  return rate;
}

const fmt = (x: number) => Math.round(x).toLocaleString('en-US');

export default async function bench(ctx: BenchContext): Promise<BenchResult[]> {
  const results: BenchResult[] = [];
  const memN = ctx.quick ? 10_000 : 50_000;
  await memoryBus(1000); // warm-up
  await emitter(1000);
  const mem = await memoryBus(memN);
  const ee = await emitter(memN);
  ctx.log(`memory bus ${fmt(mem)} events/s vs EventEmitter ${fmt(ee)} events/s`);
  results.push({ name: 'memory bus publish → async handler', unit: 'events/s', value: mem, baselineName: 'EventEmitter, same handler', baseline: ee, ratio: mem / ee, goal: 0.5, notes: `${memN} events` });

  if (ctx.redisUrl) {
    for (const batch of [1, 100]) {
      const n = batch === 1 ? (ctx.quick ? 2000 : 5000) : ctx.quick ? 10_000 : 30_000;
      const bus = await redisBus(ctx.redisUrl, n, batch);
      const raw = await rawRedis(ctx.redisUrl, n, batch);
      ctx.log(`redis batch ${batch}: bus ${fmt(bus)} events/s vs raw ${fmt(raw)} events/s`);
      results.push({
        name: `redis bus end-to-end, batch ${batch}`,
        unit: 'events/s',
        value: bus,
        baselineName: 'raw ioredis XADD + XREADGROUP + XACK',
        baseline: raw,
        ratio: bus / raw,
        goal: 0.7,
        notes: `${n} events`,
      });
    }
  } else ctx.log('redis bus bench skipped: no Redis URL');
  return results;
}
