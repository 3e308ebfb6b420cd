import { describe, expect, it } from 'vitest';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import { MemoryCheckpoints } from '../../src/core/bus/checkpoints.js';
import { createDurableBus } from '../../src/core/bus/durable-bus.js';
import { MemoryEventStore } from '../../src/memory/event-store.js';
import { MemoryEventBus } from '../../src/memory/event-bus.js';
import { waitFor } from '../support/event-bus-suite.js';

/** A transport that dies (throws) on publish, like a process killed after the append and before the send. */
class DeadTransport extends MemoryEventBus {
  override async publish(): Promise<void> {
    throw new Error('process died before sending');
  }
}

describe('durable publish (event store + relay)', () => {
  it('appends before sending, so a crash between append and send loses nothing', async () => {
    const store = new MemoryEventStore();
    const checkpoints = new MemoryCheckpoints();
    const first = createDurableBus({ store, transport: new DeadTransport(), checkpoints, pollIntervalMs: 20 });
    await first.start();
    const events = Array.from({ length: 25 }, (_, i) => createEvent({ type: 'task.created', streamId: `t-${i % 5}`, data: { i } }));
    await first.publish(events);
    // publish resolved: the events are durable even though nothing reached a transport
    expect((await store.readAll()).events.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
    await first.stop();

    const transport = new MemoryEventBus();
    const received: EventEnvelope[] = [];
    const second = createDurableBus({ store, transport, checkpoints, pollIntervalMs: 20 });
    await second.subscribe('task.*', (e) => void received.push(e), { group: 'g' });
    await second.start();
    await waitFor(() => received.length === 25, 5000, 'relay of the stored events');
    expect(new Set(received.map((e) => e.id))).toEqual(new Set(events.map((e) => e.id)));
    for (let s = 0; s < 5; s++) {
      expect(received.filter((e) => e.streamId === `t-${s}`).map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
    }
    // the checkpoint moved: a third relay sends nothing again
    expect(await createDurableBus({ store, transport, checkpoints }).relay.runOnce()).toBe(0);
    await second.stop();
  });

  it('resends (never skips) a batch whose checkpoint was not saved', async () => {
    const store = new MemoryEventStore();
    let failSave = true;
    const checkpoints = new MemoryCheckpoints();
    const flaky = { load: (n: string) => checkpoints.load(n), save: async (n: string, c: string) => {
      if (failSave) throw new Error('crash before checkpoint');
      await checkpoints.save(n, c);
    } };
    const transport = new MemoryEventBus();
    const got: string[] = [];
    await transport.subscribe('*', (e) => void got.push(e.id), { group: 'g' });
    await transport.start();
    const bus = createDurableBus({ store, transport, checkpoints: flaky });
    const e = createEvent({ type: 'a.b', data: {} });
    await bus.publish(e);
    await expect(bus.relay.runOnce()).rejects.toThrow('crash before checkpoint');
    failSave = false;
    expect(await bus.relay.runOnce()).toBe(1);
    await waitFor(() => got.length === 2);
    expect(got).toEqual([e.id, e.id]);
    await transport.stop();
  });

  it('with a checkpoint interval: saves at most that often, the last position after it, and at stop', async () => {
    const store = new MemoryEventStore();
    const checkpoints = new MemoryCheckpoints();
    const saves: string[] = [];
    const counting = { load: (n: string) => checkpoints.load(n), save: async (n: string, c: string) => {
      saves.push(c);
      await checkpoints.save(n, c);
    } };
    const transport = new MemoryEventBus();
    await transport.start();
    const bus = createDurableBus({ store, transport, checkpoints: counting, checkpointIntervalMs: 200 });
    for (let i = 0; i < 5; i++) {
      await bus.publish(createEvent({ type: 'a.b', data: { i } }));
      expect(await bus.relay.runOnce()).toBe(1);
    }
    // Five pages delivered: the first position saved at once, the rest waits for the interval.
    expect(saves.length).toBeLessThanOrEqual(2);
    const last = (await store.readAll()).next!;
    await waitFor(() => saves.at(-1) === last, 2000, 'the last position saved after the interval');
    expect(saves.length).toBeLessThanOrEqual(2);
    await bus.publish(createEvent({ type: 'a.b', data: { i: 5 } }));
    await bus.start();
    await bus.relay.runOnce();
    await bus.stop(); // saves what was delivered since
    expect(await checkpoints.load('bus-relay')).toBe((await store.readAll()).next);
    await transport.stop();
  });

  it('backs off after a failed pass even while appends keep poking it (no retry spin on a refusing transport)', async () => {
    const store = new MemoryEventStore();
    let attempts = 0;
    class RefusingTransport extends MemoryEventBus {
      override async publish(): Promise<void> {
        attempts++;
        throw new Error('bus full');
      }
    }
    const bus = createDurableBus({ store, transport: new RefusingTransport(), checkpoints: new MemoryCheckpoints() });
    await bus.start();
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      await bus.publish(createEvent({ type: 'a.b', data: {} })); // each publish pokes the relay
      await new Promise((r) => setTimeout(r, 5));
    }
    await bus.stop();
    // Backoff 200, 400, 800 ms… after the first failure: a handful of attempts in a second, not one per poke.
    expect(attempts).toBeGreaterThan(0);
    expect(attempts).toBeLessThanOrEqual(5);
  });
});
