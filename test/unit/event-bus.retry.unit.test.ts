import { describe, expect, it } from 'vitest';
import pino from 'pino';
import { backoffDelay, resolveBackoff } from '../../src/core/bus/backoff.js';
import { KeyedQueue } from '../../src/core/bus/keyed-queue.js';
import { createEvent } from '../../src/core/events/envelope.js';
import { BusFullError } from '../../src/core/errors.js';
import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';
import { createMemoryBus } from '../../src/memory/event-bus.js';
import { waitFor } from '../support/event-bus-suite.js';

describe('backoff', () => {
  it('grows exponentially, caps, and jitters within [0, base]', () => {
    const b = resolveBackoff({ initialMs: 100, factor: 2, maxMs: 1000, jitter: false });
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, b))).toEqual([100, 200, 400, 800, 1000, 1000]);
    const j = resolveBackoff({ initialMs: 100, factor: 2, maxMs: 1000 });
    expect(backoffDelay(3, j, () => 0)).toBe(0);
    expect(backoffDelay(3, j, () => 0.5)).toBe(200);
    expect(backoffDelay(3, j, () => 0.999)).toBe(399);
    expect(backoffDelay(4, resolveBackoff({ type: 'fixed', initialMs: 70, jitter: false }))).toBe(70);
  });

  it('waits the computed delays between attempts (fake sleep, fixed jitter)', async () => {
    const waits: number[] = [];
    const deadLetters = new MemoryDeadLetters();
    const bus = createMemoryBus({ deadLetters, sleep: async (ms) => void waits.push(ms), random: () => 0.5, logger: pino({ level: 'silent' }) });
    await bus.subscribe('x.*', () => {
      throw new Error('no');
    }, { group: 'g', maxAttempts: 4, backoff: { initialMs: 1000, factor: 3, maxMs: 5000 } });
    await bus.start();
    await bus.publish(createEvent({ type: 'x.y', data: {} }));
    await waitFor(async () => (await deadLetters.list()).length === 1);
    // base 1000, 3000, 5000 (capped) with jitter 0.5 → 500, 1500, 2500; no wait after the last attempt
    expect(waits).toEqual([500, 1500, 2500]);
    expect((await deadLetters.list())[0]!.attempts).toBe(4);
    await bus.stop();
  });
});

describe('memory bus buffer', () => {
  it('rejects with BusFullError when full and overflow is reject, and waits when it is wait', async () => {
    const release: Array<() => void> = [];
    const make = (overflow: 'reject' | 'wait') => createMemoryBus({ bufferSize: 3, overflow });
    const rejecting = make('reject');
    await rejecting.subscribe('*', () => new Promise<void>((r) => release.push(r)), { group: 'g' });
    await rejecting.start();
    await rejecting.publish([createEvent({ type: 'a.b', data: {} }), createEvent({ type: 'a.b', data: {} }), createEvent({ type: 'a.b', data: {} })]);
    await expect(rejecting.publish(createEvent({ type: 'a.b', data: {} }))).rejects.toBeInstanceOf(BusFullError);
    expect(rejecting.broker.depth).toBe(3);

    const waiting = make('wait');
    const handled: number[] = [];
    const gates: Array<() => void> = [];
    await waiting.subscribe('*', (e) => new Promise<void>((r) => gates.push(() => (handled.push(e.data.i as number), r()))), { group: 'g' });
    await waiting.start();
    let resolved = false;
    const p = waiting.publish(Array.from({ length: 4 }, (_, i) => createEvent({ type: 'a.b', streamId: 's', data: { i } }))).then(() => (resolved = true));
    await waitFor(() => gates.length === 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(resolved).toBe(false); // the 4th event waits for room
    gates.shift()!();
    await p;
    expect(resolved).toBe(true);
    for (let i = 0; i < 3; i++) {
      await waitFor(() => gates.length === 1);
      gates.shift()!();
    }
    await waitFor(() => handled.length === 4);
    expect(handled).toEqual([0, 1, 2, 3]);
    for (const r of release) r();
    await rejecting.stop({ drainTimeoutMs: 50 });
    await waiting.stop({ drainTimeoutMs: 50 });
  });

  it('caps handler invocations at the worker pool size', async () => {
    const bus = createMemoryBus({ workers: 2 });
    let running = 0;
    let max = 0;
    let done = 0;
    for (const g of ['a', 'b', 'c']) {
      await bus.subscribe('*', async () => {
        max = Math.max(max, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        done++;
      }, { group: g, concurrency: 4 });
    }
    await bus.start();
    await bus.publish(Array.from({ length: 10 }, () => createEvent({ type: 'w.x', data: {} })));
    await waitFor(() => done === 30);
    expect(max).toBe(2);
    await bus.stop();
  });
});

describe('KeyedQueue', () => {
  it('hands out one item per key at a time, in order, and requeues at the head', () => {
    const q = new KeyedQueue<number>();
    q.push('a', 1);
    q.push('a', 2);
    q.push('b', 3);
    expect(q.take()).toEqual({ key: 'a', item: 1 });
    expect(q.take()).toEqual({ key: 'b', item: 3 });
    expect(q.take()).toBeUndefined(); // a is busy
    q.unshift('a', 1);
    expect(q.take()).toEqual({ key: 'a', item: 1 });
    q.release('a');
    expect(q.take()).toEqual({ key: 'a', item: 2 });
    expect(q.size).toBe(0);
  });
});
