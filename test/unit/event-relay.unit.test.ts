import { describe, expect, it, vi } from 'vitest';
import { MemoryCheckpoints } from '../../src/core/bus/checkpoints.js';
import { EventRelay } from '../../src/core/bus/event-relay.js';
import { createEvent } from '../../src/core/events/envelope.js';
import type { StoredEvent } from '../../src/core/ports/event-store.js';

/** An in-memory log read as a relay reads the store; counts its reads. */
function memoryLog() {
  const log: StoredEvent[] = [];
  let reads = 0;
  const key = (c: string) => Number(c.split('.')[1]);
  return {
    log,
    reads: () => reads,
    append: () => log.push({ ...createEvent({ type: 'x.happened', data: {} }), cursor: `1.${log.length + 1}`, position: log.length + 1 }),
    reader: {
      readAll: async ({ after, limit }: { after?: string; limit?: number }) => {
        reads++;
        const events = log.filter((e) => key(e.cursor) > key(after ?? '0.0')).slice(0, limit ?? 100);
        return { events, next: events.at(-1)?.cursor ?? after };
      },
    },
  };
}

describe('EventRelay start and stop', () => {
  it('a start while a stop waits for the loop: the stop returns, one loop follows the log afterwards', async () => {
    const m = memoryLog();
    const delivered: string[] = [];
    const relay = new EventRelay({ store: m.reader, checkpoints: new MemoryCheckpoints(), pollIntervalMs: 50, deliver: async (events) => void delivered.push(...events.map((e) => e.id)) });
    relay.start();
    await vi.waitFor(() => expect(m.reads()).toBeGreaterThan(0));
    const stopping = relay.stop(); // its lease lost ...
    relay.start(); // ... and taken again before the stop ended
    const ended = await Promise.race([stopping.then(() => 'stopped'), new Promise((r) => setTimeout(() => r('still waiting'), 2000))]);
    expect(ended).toBe('stopped');
    try {
      m.append();
      relay.poke();
      await vi.waitFor(() => expect(delivered).toEqual([m.log[0]!.id]));
      // One loop: about one read per 50 ms poll, not two.
      const before = m.reads();
      await new Promise((r) => setTimeout(r, 500));
      expect(m.reads() - before).toBeLessThanOrEqual(12);
    } finally {
      await relay.stop();
    }
  });
});
