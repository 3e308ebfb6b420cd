import { describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { NonRetryableError, SagaDefinitionError } from '../../src/core/errors.js';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import type { StoredEvent } from '../../src/core/ports/event-store.js';
import type { ClaimedCommand, FailOutcome, LeasedItem, RegisteredWorker, WorkItem, WorkQueue } from '../../src/core/ports/work-queue.js';
import { MemoryCheckpoints } from '../../src/core/bus/checkpoints.js';
import { defineHandler, type HandlerDefinition } from '../../src/core/worker/define-handler.js';
import { replyEnvelopes, replyEventId } from '../../src/core/worker/replies.js';
import { WorkerLoop, type WorkSource } from '../../src/core/worker/worker-loop.js';
import { WorkerFeed, workItemsOf } from '../../src/runtime/worker-feed.js';
import { WorkWaiters } from '../../src/runtime/work-waiters.js';
import { EarlyCommands } from '../../src/runtime/early-commands.js';

const command = (data: Record<string, unknown> = { orderId: 'o-1' }) =>
  createEvent({ type: 'stock.reserve.requested', streamId: 'o-1', data, metadata: { correlationId: 'c-1', traceparent: '00-abc-def-01' } });

describe('defineHandler', () => {
  const handle = () => undefined;
  it('accepts a name, types or patterns and a function', () => {
    const h = defineHandler({ name: 'stock', handles: ['stock.*', 'order.placed'], handle, maxAttempts: 2 });
    expect(h.handles).toEqual(['stock.*', 'order.placed']);
    expect(h.maxAttempts).toBe(2);
  });
  it.each([
    [{ name: 'bad name', handles: 'a.b', handle }, /letters, digits/],
    [{ name: 'ok', handles: [], handle }, /no event type/],
    [{ name: 'ok', handles: 'a..b', handle }, /"a\.\.b" is not an event type/],
    [{ name: 'ok', handles: 'a.b', handle: 'nope' }, /handle must be a function/],
    [{ name: 'ok', handles: 'a.b', handle, timeoutMs: 0 }, /timeoutMs must be a positive integer/],
  ])('rejects %o', (config, message) => {
    expect(() => defineHandler(config as never)).toThrow(SagaDefinitionError);
    expect(() => defineHandler(config as never)).toThrow(message);
  });
});

describe('replyEnvelopes', () => {
  it('sets causation, correlation, trace, worker and the command stream; ids are stable per worker, command and index', () => {
    const c = command();
    const [a, b] = replyEnvelopes('stock', c, [{ type: 'stock.reserved', data: { orderId: 'o-1' } }, { type: 'stock.audit', data: {}, streamId: 'audit' }]);
    expect(a!.metadata).toEqual({ correlationId: 'c-1', traceparent: '00-abc-def-01', causationId: c.id, worker: 'stock' });
    expect(a!.streamId).toBe('o-1');
    expect(b!.streamId).toBe('audit');
    expect(a!.id).toBe(replyEventId('stock', c.id, 0));
    expect(b!.id).toBe(replyEventId('stock', c.id, 1));
    expect(replyEventId('other', c.id, 0)).not.toBe(a!.id);
    expect(replyEnvelopes('stock', c, [{ type: 'stock.reserved', data: {} }])[0]!.id).toBe(a!.id);
  });
  it('refuses unknown fields with their names', () => {
    expect(() => replyEnvelopes('stock', command(), [{ type: 'x.y', data: {}, orderId: 1 } as never])).toThrow(/orderId: unknown field/);
  });
});

/** A source holding one command; records what the loop reports. */
class FakeSource implements WorkSource {
  completed: EventEnvelope[][] = [];
  failed: Array<{ error: { message: string; code?: string }; final: boolean }> = [];
  registered: string[] = [];
  private pending: ClaimedCommand[];

  constructor(commands: EventEnvelope[]) {
    this.pending = commands.map((c) => ({ command: c, attempt: 1, leaseToken: 't', leaseExpiresAt: '' }));
  }
  async register(w: { name: string }) {
    this.registered.push(w.name);
  }
  async claim(_w: string, o: { max: number; waitMs: number }, signal: AbortSignal) {
    const out = this.pending.splice(0, o.max);
    if (out.length === 0) await new Promise((r) => { const t = setTimeout(r, 20); signal.addEventListener('abort', () => { clearTimeout(t); r(undefined); }, { once: true }); });
    return out;
  }
  async complete(_w: string, _id: string, _t: string, replies: readonly EventEnvelope[]) {
    this.completed.push([...replies]);
  }
  async fail(_w: string, _id: string, _t: string, error: { message: string; code?: string }, o: { final?: boolean }): Promise<FailOutcome> {
    this.failed.push({ error, final: o.final ?? false });
    return o.final ? 'dead-lettered' : 'retrying';
  }
}

async function runOnce(handler: HandlerDefinition, data?: Record<string, unknown>, timeoutMs = 1000) {
  const source = new FakeSource([command(data)]);
  const loop = new WorkerLoop({ source, handler, by: 'test', defaults: { timeoutMs } });
  await loop.start();
  const end = Date.now() + 3000;
  while (source.completed.length + source.failed.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  await loop.stop({ drainTimeoutMs: 100 });
  return source;
}

describe('WorkerLoop', () => {
  it('registers, hands each command to handle and completes it with the replies', async () => {
    const h = defineHandler({ name: 'stock', handles: 'stock.reserve.requested', handle: (c) => ({ type: 'stock.reserved', data: { orderId: String(c.data.orderId) } }) });
    const source = await runOnce(h);
    expect(source.registered).toEqual(['stock']);
    expect(source.completed[0]!.map((r) => r.type)).toEqual(['stock.reserved']);
  });
  it('fails a throwing attempt for a retry, and a NonRetryableError for good', async () => {
    const retry = await runOnce(defineHandler({ name: 's', handles: 'a.b', handle: () => { throw new Error('down'); } }));
    expect(retry.failed).toEqual([{ error: { message: 'down' }, final: false }]);
    const never = await runOnce(defineHandler({ name: 's', handles: 'a.b', handle: () => { throw new NonRetryableError('no such sku'); } }));
    expect(never.failed[0]).toMatchObject({ final: true, error: { message: 'no such sku', code: 'NON_RETRYABLE' } });
  });
  it('dead-letters a command whose data fails the schema, naming the field, without calling handle', async () => {
    let called = false;
    const h = defineHandler({ name: 's', handles: 'a.b', schema: z.object({ orderId: z.number() }), handle: () => { called = true; } });
    const source = await runOnce(h, { orderId: 'o-1' });
    expect(called).toBe(false);
    expect(source.failed[0]).toMatchObject({ final: true });
    expect(source.failed[0]!.error.message).toMatch(/at data\.orderId/);
  });
  it('fails an attempt that runs past its timeout (retryable) and aborts its signal', async () => {
    let aborted = false;
    const h = defineHandler({ name: 's', handles: 'a.b', timeoutMs: 50, handle: (_c, ctx) => new Promise<void>((r) => ctx.signal.addEventListener('abort', () => { aborted = true; r(); })) });
    const source = await runOnce(h);
    expect(source.failed[0]).toMatchObject({ final: false, error: { code: 'HANDLER_TIMEOUT' } });
    expect(aborted).toBe(true);
  });
});

describe('workItemsOf', () => {
  const stored = (type: string, cursor: string, position: number): StoredEvent => ({ ...createEvent({ type, data: {} }), cursor, position });
  it('matches types and patterns, only after each worker registered', () => {
    const events = [stored('stock.reserve.requested', '10.1', 1), stored('stock.release.requested', '12.2', 2), stored('order.placed', '12.3', 3)];
    const items = workItemsOf(events, [
      { name: 'stock', handles: ['stock.*.requested'], fromCursor: '0.0', maxAttempts: 3 },
      { name: 'late', handles: ['*'], fromCursor: '11.9223372036854775807', maxAttempts: 5 },
    ]);
    expect(items.map((i) => `${i.worker}:${i.event.position}:${i.maxAttempts}`)).toEqual(['stock:1:3', 'stock:2:3', 'late:2:5', 'late:3:5']);
  });
});

describe('WorkWaiters', () => {
  it('wakes a waiter on notify, returns at once when notified since the generation was read, else after the time', async () => {
    const w = new WorkWaiters();
    const g = w.generation('stock');
    const t0 = performance.now();
    const waiting = w.wait('stock', g, 5000);
    w.notify(['stock']);
    await waiting;
    expect(performance.now() - t0).toBeLessThan(1000);
    await w.wait('stock', g, 5000); // notified since g: no wait
    expect(performance.now() - t0).toBeLessThan(1000);
    const t1 = performance.now();
    await w.wait('other', w.generation('other'), 30);
    expect(performance.now() - t1).toBeGreaterThanOrEqual(25);
  });
});

describe('WorkerFeed hand-off', () => {
  const page = [0, 1, 2].map((i) => ({ ...createEvent({ type: 'stock.reserve.requested', data: { i } }), cursor: `10.${i + 1}`, position: i + 1 }));
  const reader = (events: StoredEvent[]) => {
    let served = false;
    return { readAll: async () => (served ? { events: [], next: '10.3' } : ((served = true), { events, next: events.at(-1)!.cursor })) };
  };
  const queue = (enqueue: (items: readonly WorkItem[]) => Promise<LeasedItem[]>): WorkQueue =>
    ({
      registered: async () => [{ name: 'stock', handles: ['stock.reserve.requested'], fromCursor: '0.0', maxAttempts: 3 }],
      enqueue: async (items: readonly WorkItem[]) => ({ leased: await enqueue(items), available: [...new Set(items.filter((i) => !i.lease).map((i) => i.worker))] }),
    }) as unknown as WorkQueue;

  it('records up to a waiting claim\'s max of new commands leased to it and hands them over as attempt 1', async () => {
    let recorded: readonly WorkItem[] = [];
    const given: ClaimedCommand[][] = [];
    const feed = new WorkerFeed({
      reader: reader(page), checkpoints: new MemoryCheckpoints(),
      queue: queue(async (items) => {
        recorded = items;
        return items.filter((i) => i.lease).map((i) => ({ worker: i.worker, eventId: i.event.id, leaseToken: `t-${i.event.id}`, leaseExpiresAt: 'x' }));
      }),
      handOff: { reserve: () => ({ by: 'me', leaseMs: 1000, max: 2, give: (c) => given.push(c) }) },
    });
    await feed.relay.runOnce();
    expect(recorded.map((i) => i.lease?.by ?? null)).toEqual(['me', 'me', null]);
    expect(given).toHaveLength(1);
    expect(given[0]!.map((c) => [c.command.id, c.attempt, c.leaseToken])).toEqual(page.slice(0, 2).map((e) => [e.id, 1, `t-${e.id}`]));
  });

  it('releases the reserved claim with nothing when recording fails', async () => {
    const given: ClaimedCommand[][] = [];
    const feed = new WorkerFeed({
      reader: reader(page), checkpoints: new MemoryCheckpoints(),
      queue: queue(async () => {
        throw new Error('database down');
      }),
      handOff: { reserve: () => ({ by: 'me', leaseMs: 1000, max: 5, give: (c) => given.push(c) }) },
    });
    await expect(feed.relay.runOnce()).rejects.toThrow('database down');
    expect(given).toEqual([[]]);
  });
});

/** An in-memory log of `stock.reserve.requested` commands in transaction `tx`, read as the feed reads the store. */
function fakeLog(tx: number) {
  const log: StoredEvent[] = [];
  const append = (i: number) => log.push({ ...createEvent({ type: 'stock.reserve.requested', data: { i } }), cursor: `${tx}.${i}`, position: i });
  const key = (c: string) => Number(c.split('.')[1]);
  const reader = {
    readAll: async ({ after, limit }: { after?: string; limit?: number }) => {
      const events = log.filter((e) => key(e.cursor) > key(after ?? '0.0')).slice(0, limit ?? 100);
      return { events, next: events.at(-1)?.cursor ?? after };
    },
  };
  return { log, append, reader };
}

describe('WorkerFeed catch-up', () => {
  it('gives a worker that registered after the feed read pages without it the commands of those pages', async () => {
    const { log, append, reader } = fakeLog(20);
    let registered: RegisteredWorker[] = [];
    const enqueued: string[] = [];
    const feed = new WorkerFeed({
      reader, checkpoints: new MemoryCheckpoints(),
      queue: { registered: async () => registered, enqueue: async (items: readonly WorkItem[]) => (enqueued.push(...items.map((i) => i.event.id)), { leased: [], available: [] }) } as unknown as WorkQueue,
    });
    append(1);
    await feed.relay.runOnce(); // no worker yet: nothing recorded
    expect(enqueued).toEqual([]);
    registered = [{ name: 'stock', handles: ['stock.reserve.requested'], fromCursor: '0.0', maxAttempts: 3 }];
    append(2);
    await feed.relay.runOnce(); // the feed still reads its list of a moment ago: page 2 goes without stock
    expect(enqueued).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    append(3);
    await feed.relay.runOnce(); // stock is new now: pages 1 and 2 again for it alone, then page 3
    expect(enqueued).toEqual(log.map((e) => e.id));
  });

  it('while running, gives a new worker the commands delivered without it at the next upkeep tick, when no page follows', async () => {
    const { log, append, reader } = fakeLog(25);
    let registered: RegisteredWorker[] = [];
    const enqueued: string[] = [];
    const woken: string[] = [];
    const feed = new WorkerFeed({
      reader, checkpoints: new MemoryCheckpoints(), onEnqueued: (workers) => woken.push(...workers),
      queue: {
        registered: async () => registered,
        enqueue: async (items: readonly WorkItem[]) => (enqueued.push(...items.map((i) => i.event.id)), { leased: [], available: [] }),
        sweepExhausted: async () => 0,
        purgeDone: async () => 0,
      } as unknown as WorkQueue,
    });
    feed.start();
    try {
      append(1);
      await feed.relay.runOnce(); // no worker yet
      registered = [{ name: 'stock', handles: ['stock.reserve.requested'], fromCursor: '25.0', maxAttempts: 3 }];
      append(2);
      await feed.relay.runOnce(); // page 2 goes out with the list of a moment ago, without stock; nothing follows it
      expect(enqueued).toEqual([]);
      await vi.waitFor(() => expect(enqueued).toEqual(log.map((e) => e.id)), { timeout: 2500, interval: 20 });
      expect(woken).toEqual(['stock']);
    } finally {
      await feed.stop();
    }
  });
});

describe('WorkerFeed early hand-off (ADR 0018)', () => {
  /** A running feed over a fake log whose first page (event 1) it has delivered, with a claim of `stock` waiting. */
  async function running(tx: number) {
    const log = fakeLog(tx);
    const enqueued: WorkItem[] = [];
    const given: ClaimedCommand[][] = [];
    const woken: string[] = [];
    let reserves = 0;
    const checkpoints = new MemoryCheckpoints();
    const early = new EarlyCommands();
    const feed = new WorkerFeed({
      reader: log.reader, checkpoints, early, onEnqueued: (workers) => woken.push(...workers),
      queue: {
        registered: async () => [{ name: 'stock', handles: ['stock.reserve.requested'], fromCursor: `${tx}.0`, maxAttempts: 3 }],
        enqueue: async (items: readonly WorkItem[]) => (enqueued.push(...items), { leased: [], available: [] }),
        sweepExhausted: async () => 0,
        purgeDone: async () => 0,
      } as unknown as WorkQueue,
      handOff: { reserve: () => (reserves++, { by: 'me', leaseMs: 30_000, max: 5, give: (c) => given.push(c) }) },
    });
    feed.start();
    log.append(1);
    await feed.relay.runOnce();
    given.length = 0;
    enqueued.length = 0;
    woken.length = 0;
    reserves = 0;
    return { ...log, feed, early, enqueued, given, woken, checkpoints, reserves: () => reserves };
  }

  it('hands a just-committed command to a waiting claim at once; its page then neither records it nor hands it again, and the checkpoint stays before it until it is recorded', async () => {
    const f = await running(40);
    try {
      f.append(2);
      f.feed.offer([f.log[1]!]);
      expect(f.given.map((g) => g.map((c) => [c.command.id, c.attempt]))).toEqual([[[f.log[1]!.id, 1]]]);
      const token = f.given[0]![0]!.leaseToken;
      expect(f.early.recordFor('stock', f.log[1]!.id, token)).toEqual({ worker: 'stock', event: { id: f.log[1]!.id, position: 2 }, maxAttempts: 3, lease: { by: 'me', leaseMs: 30_000, token } });
      await f.feed.relay.runOnce(); // the feed reads event 2's page
      expect(f.enqueued).toEqual([]);
      expect(f.reserves()).toBe(1);
      expect(f.woken).toEqual([]);
      await f.feed.relay.flushCheckpoint();
      expect(await f.checkpoints.load('worker-feed')).toBe('40.1'); // not past the unrecorded command
      // An offer of an event the feed was given already hands nothing.
      f.feed.offer([f.log[1]!]);
      expect(f.given).toHaveLength(1);
      f.early.recorded('stock', f.log[1]!.id); // its completion recorded it
      f.append(3);
      await f.feed.relay.runOnce();
      await f.feed.relay.flushCheckpoint();
      expect(await f.checkpoints.load('worker-feed')).toBe('40.3');
      expect(f.enqueued.map((i) => [i.event.id, i.lease?.by])).toEqual([[f.log[2]!.id, 'me']]);
    } finally {
      await f.feed.stop();
    }
  });

  it('records a command handed early and unanswered after a second, leased with the token it was handed with', async () => {
    const f = await running(41);
    try {
      f.append(2);
      f.feed.offer([f.log[1]!]);
      const token = f.given[0]![0]!.leaseToken;
      await f.feed.relay.runOnce();
      expect(f.enqueued).toEqual([]);
      await vi.waitFor(() => expect(f.enqueued).toHaveLength(1), { timeout: 3000, interval: 20 });
      expect(f.enqueued[0]).toEqual({ worker: 'stock', event: { id: f.log[1]!.id, position: 2 }, maxAttempts: 3, lease: { by: 'me', leaseMs: 30_000, token } });
      expect(f.early.size).toBe(0);
    } finally {
      await f.feed.stop();
    }
  });

  it('hands nothing while the feed is stopped (another daemon may own it)', async () => {
    const f = await running(42);
    await f.feed.stop();
    f.append(2);
    f.feed.offer([f.log[1]!]);
    expect(f.given).toEqual([]);
    expect(f.early.size).toBe(0);
  });
});

describe('WorkerFeed start and stop', () => {
  it('taken again while the stop of its loss still runs, it follows the log once that stop has ended', async () => {
    const { log, append, reader } = fakeLog(50);
    const enqueued: string[] = [];
    const feed = new WorkerFeed({
      reader, checkpoints: new MemoryCheckpoints(),
      queue: {
        registered: async () => [{ name: 'stock', handles: ['stock.reserve.requested'], fromCursor: '50.0', maxAttempts: 3 }],
        enqueue: async (items: readonly WorkItem[]) => (enqueued.push(...items.map((i) => i.event.id)), { leased: [], available: [] }),
        sweepExhausted: async () => 0,
        purgeDone: async () => 0,
      } as unknown as WorkQueue,
    });
    feed.start();
    append(1);
    feed.relay.poke();
    await vi.waitFor(() => expect(enqueued).toEqual([log[0]!.id]));
    const stopping = feed.stop(); // the lease lost ...
    feed.start(); // ... and taken again
    await stopping;
    try {
      append(2);
      feed.relay.poke();
      await vi.waitFor(() => expect(enqueued).toEqual(log.map((e) => e.id)), { timeout: 3000, interval: 20 });
    } finally {
      await feed.stop();
    }
  });
});

describe('WorkerFeed list of workers', () => {
  it('while running, reads a due list of workers beside a delivery instead of in its path', async () => {
    const { log, append, reader } = fakeLog(30);
    let reads = 0;
    const enqueuedAt = new Map<string, number>();
    const feed = new WorkerFeed({
      reader, checkpoints: new MemoryCheckpoints(),
      queue: {
        registered: async () => {
          // The first read is quick; every later one takes 400 ms.
          if (reads++ > 0) await new Promise((r) => setTimeout(r, 400));
          return [{ name: 'stock', handles: ['stock.reserve.requested'], fromCursor: '0.0', maxAttempts: 3 }];
        },
        enqueue: async (items: readonly WorkItem[]) => (items.forEach((i) => enqueuedAt.set(i.event.id, performance.now())), { leased: [], available: [] }),
        sweepExhausted: async () => 0,
        purgeDone: async () => 0,
      } as unknown as WorkQueue,
    });
    const delivered = async (i: number) => {
      for (const end = performance.now() + 5000; performance.now() < end; await new Promise((r) => setTimeout(r, 5))) {
        const at = enqueuedAt.get(log[i - 1]!.id);
        if (at !== undefined) return at;
      }
      throw new Error(`event ${i} not delivered`);
    };
    feed.start();
    try {
      append(1);
      feed.relay.poke();
      await delivered(1);
      await new Promise((r) => setTimeout(r, 1100)); // the list is due now
      append(2);
      const t = performance.now();
      feed.relay.poke();
      expect((await delivered(2)) - t).toBeLessThan(300); // not after the 400 ms read
      expect(reads).toBe(2); // read again, beside it
    } finally {
      await feed.stop();
    }
  });
});
