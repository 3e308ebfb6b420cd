import { describe, expect, it } from 'vitest';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import { UnavailableError } from '../../src/core/errors.js';
import type { PublishOptions } from '../../src/core/ports/event-bus.js';
import type { HybridEventBus } from '../../src/core/bus/hybrid-bus.js';
import { createHybridBus } from '../../src/core/bus/hybrid-bus.js';
import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';
import { MemoryBroker, MemoryEventBus } from '../../src/memory/event-bus.js';
import { eventBusSuite, waitFor } from '../support/event-bus-suite.js';

eventBusSuite('hybrid (memory primary, memory fallback)', async () => {
  const primary = new MemoryBroker();
  const fallback = new MemoryBroker();
  const buses: HybridEventBus[] = [];
  return {
    createBus: async ({ deadLetters }) => {
      const bus = createHybridBus({
        primary: new MemoryEventBus({ broker: primary, deadLetters }),
        fallback: new MemoryEventBus({ broker: fallback, deadLetters }),
      });
      buses.push(bus);
      return bus;
    },
    dispose: async () => {
      for (const b of buses) await b.stop({ drainTimeoutMs: 100 });
    },
  };
});

/** A memory bus whose publish can be made to fail, before or (ambiguously) after it delivered. */
class FlakyBus extends MemoryEventBus {
  mode: 'ok' | 'down' | 'ambiguous' = 'ok';
  accepted = 0;
  override async publish(events: EventEnvelope | EventEnvelope[], options?: PublishOptions): Promise<void> {
    if (this.mode === 'down') throw new UnavailableError('primary down');
    await super.publish(events, options);
    this.accepted++;
    if (this.mode === 'ambiguous') throw new UnavailableError('reply lost after the write');
  }
}

describe('hybrid bus failover', () => {
  it('fails over after N errors, probes, fails back, and never hands a handler an event twice', async () => {
    let now = 0;
    const clock = { now: () => new Date(now) };
    const deadLetters = new MemoryDeadLetters();
    const primary = new FlakyBus({ deadLetters });
    const fallback = new MemoryEventBus({ deadLetters });
    const secondary = new MemoryEventBus({ deadLetters });
    const bus = createHybridBus({ primary, fallback, secondary, failureThreshold: 3, probeIntervalMs: 1000, clock });
    const counts = new Map<string, number>();
    await bus.subscribe('*', (e) => void counts.set(e.id, (counts.get(e.id) ?? 0) + 1), { group: 'g', concurrency: 4 });
    await bus.start();
    const published: string[] = [];
    const send = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const e = createEvent({ type: 'order.placed', data: { i } });
        await bus.publish(e);
        published.push(e.id);
        now += 30;
      }
    };
    await send(50);
    expect(bus.health.state).toBe('up');
    primary.mode = 'ambiguous'; // the worst case: the primary delivered, but the publisher saw an error
    await send(5);
    expect(bus.health.state).toBe('down');
    expect(bus.health.failovers).toBe(1);
    primary.mode = 'down';
    await send(50);
    const acceptedWhileDown = primary.accepted;
    primary.mode = 'ok';
    await send(20);
    expect(bus.health.state).toBe('up');
    expect(bus.health.failbacks).toBe(1);
    await send(30);
    expect(primary.accepted).toBeGreaterThan(acceptedWhileDown + 20);
    await waitFor(() => published.every((id) => counts.has(id)), 5000, 'every event handled');
    await new Promise((r) => setTimeout(r, 100));
    expect(counts.size).toBe(published.length);
    expect([...counts.values()].filter((n) => n > 1)).toEqual([]);
    await bus.stop();
  });
});
