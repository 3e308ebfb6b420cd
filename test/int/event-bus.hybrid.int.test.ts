import { afterEach, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { createHybridBus, type HybridEventBus } from '../../src/core/bus/hybrid-bus.js';
import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';
import { MemoryBroker, MemoryEventBus } from '../../src/memory/event-bus.js';
import { createRedisBus } from '../../src/redis/redis-event-bus.js';
import { eventBusSuite, waitFor } from '../support/event-bus-suite.js';
import { deleteKeys, startPrivateRedis, type PrivateRedis } from '../support/redis-bus-harness.js';
import { hasRedis, redisUrl } from '../support/services.js';

describe.runIf(hasRedis())('hybrid bus on redis', () => {
  eventBusSuite('hybrid (redis primary, memory fallback)', async () => {
    const prefix = `test:${crypto.randomUUID()}:`;
    const fallback = new MemoryBroker();
    const buses: HybridEventBus[] = [];
    return {
      createBus: async ({ deadLetters }) => {
        const primary = createRedisBus({ url: redisUrl!, prefix: `${prefix}events`, deadLetters, claimIdleMs: 300, claimIntervalMs: 100, blockMs: 200 });
        const bus = createHybridBus({ primary, fallback: new MemoryEventBus({ broker: fallback, deadLetters }) });
        buses.push(bus);
        return bus;
      },
      dispose: async () => {
        await Promise.all(buses.map((b) => b.stop({ drainTimeoutMs: 100 })));
        await deleteKeys(redisUrl!, prefix);
      },
    };
  });

  let server: PrivateRedis | undefined;
  let bus: HybridEventBus | undefined;
  afterEach(async () => {
    await bus?.stop({ drainTimeoutMs: 100 });
    await server?.dispose();
    bus = server = undefined;
  });

  it('fails over while Redis is down and back when it returns; no handler sees an event twice', async () => {
    server = await startPrivateRedis();
    const deadLetters = new MemoryDeadLetters();
    const primary = createRedisBus({ url: server.url, prefix: 'hybrid', deadLetters, blockMs: 200, claimIdleMs: 1000 });
    bus = createHybridBus({ primary, fallback: new MemoryEventBus({ deadLetters }), failureThreshold: 2, probeIntervalMs: 200, publishTimeoutMs: 150 });
    const counts = new Map<string, number>();
    await bus.subscribe('*', (e) => void counts.set(e.id, (counts.get(e.id) ?? 0) + 1), { group: 'g', concurrency: 4 });
    await bus.start();
    const acked: string[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const e = createEvent({ type: 'order.placed', data: { i } });
        await bus!.publish(e);
        acked.push(e.id);
      }
    };
    await send(100);
    await server.kill();
    await send(100); // the first publishes time out (and stay queued in ioredis: duplicates later), then the fallback takes over
    expect(bus.health.state).toBe('down');
    await server.restart();
    await waitFor(async () => {
      await send(5);
      return bus!.health.state === 'up';
    }, 15_000, 'fail back to the primary');
    await send(100);
    await waitFor(() => acked.every((id) => counts.has(id)), 15_000, 'every acknowledged publish handled');
    await new Promise((r) => setTimeout(r, 500)); // let late primary deliveries of fallback-era events arrive
    expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
    expect(acked.filter((id) => !counts.has(id))).toEqual([]);
    expect(bus.health.failovers).toBe(1);
    expect(bus.health.failbacks).toBe(1);
  }, 60_000);
});
