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

describe('EventRelay wake-ups', () => {
  const within = <T>(ms: number, p: Promise<T>) =>
    Promise.race([p, new Promise<'timed out'>((r) => setTimeout(() => r('timed out'), ms))]);

  it('a poke ends the wait at once, a poke during a pass runs the next pass at once, and stop ends the wait (backstop 60 s)', async () => {
    const m = memoryLog();
    const delivered: string[] = [];
    let release: (() => void) | undefined;
    const relay = new EventRelay({
      store: m.reader, checkpoints: new MemoryCheckpoints(), pollIntervalMs: 60_000,
      deliver: async (events) => {
        if (release === undefined && delivered.length === 1) await new Promise<void>((r) => (release = r)); // the second page waits
        delivered.push(...events.map((e) => e.id));
      },
    });
    relay.start();
    await vi.waitFor(() => expect(m.reads()).toBe(1)); // the first pass found nothing: the relay waits
    m.append();
    relay.poke();
    await vi.waitFor(() => expect(delivered).toHaveLength(1), { timeout: 1000 });
    m.append();
    relay.poke();
    await vi.waitFor(() => expect(release).toBeDefined(), { timeout: 1000 }); // the second page is being delivered
    m.append(); // committed during that pass: its poke must not be lost
    relay.poke();
    release!();
    await vi.waitFor(() => expect(delivered).toEqual(m.log.map((e) => e.id)), { timeout: 1000 });
    expect(await within(1000, relay.stop().then(() => 'stopped'))).toBe('stopped');
  });

  it('without a poke, the backstop poll finds an append', async () => {
    const m = memoryLog();
    const delivered: string[] = [];
    const relay = new EventRelay({ store: m.reader, checkpoints: new MemoryCheckpoints(), pollIntervalMs: 40, deliver: async (events) => void delivered.push(...events.map((e) => e.id)) });
    relay.start();
    try {
      await vi.waitFor(() => expect(m.reads()).toBeGreaterThan(0));
      m.append();
      await vi.waitFor(() => expect(delivered).toEqual([m.log[0]!.id]), { timeout: 1000 });
      // Polls go on at about the interval (one restarted timer), not faster.
      const before = m.reads();
      await new Promise((r) => setTimeout(r, 400));
      expect(m.reads() - before).toBeGreaterThanOrEqual(3);
      expect(m.reads() - before).toBeLessThanOrEqual(12);
    } finally {
      await relay.stop();
    }
  });
});
