import { afterEach, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';
import { createRedisBus, type RedisEventBus } from '../../src/redis/redis-event-bus.js';
import { waitFor } from '../support/event-bus-suite.js';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-bus-harness.js';
import { hasRedis } from '../support/services.js';

// Runs where the Redis tier runs (redis-server is installed there); it never touches the shared server.
describe.runIf(hasRedis())('redis bus: server restart', () => {
  let server: PrivateRedis | undefined;
  const buses: RedisEventBus[] = [];
  afterEach(async () => {
    await Promise.all(buses.map((b) => b.stop({ drainTimeoutMs: 100 })));
    await server?.dispose();
  });

  it('loses no acknowledged publish across a SIGKILL and restart of Redis', async () => {
    server = await startPrivateRedis();
    const options = { url: server.url, prefix: 'restart', claimIdleMs: 500, blockMs: 200, deadLetters: new MemoryDeadLetters() };
    const producer = createRedisBus(options);
    const consumer = createRedisBus(options);
    buses.push(producer, consumer);
    const received = new Set<string>();
    await consumer.subscribe('tick.*', (e) => void received.add(e.id), { group: 'restart', concurrency: 8 });
    await consumer.start();

    const acked: string[] = [];
    let failed = 0;
    let ackedAfterRestart = 0;
    let restarted = false;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        const e = createEvent({ type: 'tick.happened', data: {} });
        try {
          await producer.publish(e);
          acked.push(e.id);
          if (restarted) ackedAfterRestart++;
        } catch {
          failed++; // not acknowledged: the caller knows, so it does not count as lost
        }
      }
    })();

    await waitFor(() => acked.length >= 200, 10_000, 'publishes before the crash');
    await server.kill();
    await new Promise((r) => setTimeout(r, 300));
    await server.restart();
    restarted = true;
    await waitFor(() => ackedAfterRestart >= 200, 15_000, 'publishes after the restart');
    publishing = false;
    await publisher;

    await waitFor(() => acked.every((id) => received.has(id)), 20_000, 'every acknowledged publish to be received');
    const lost = acked.filter((id) => !received.has(id));
    expect(lost).toHaveLength(0);
    expect(acked.length).toBeGreaterThanOrEqual(400);
    expect(failed).toBeLessThan(acked.length);
  }, 60_000);
});
