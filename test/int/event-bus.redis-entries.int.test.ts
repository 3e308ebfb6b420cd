import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEvent } from '../../src/core/events/envelope.js';
import { EventTypeRegistry } from '../../src/core/events/registry.js';
import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';
import { waitFor } from '../support/event-bus-suite.js';
import { redisBusHarness } from '../support/redis-bus-harness.js';
import { hasRedis, redisUrl } from '../support/services.js';

describe.runIf(hasRedis())('redis bus: stream entries', () => {
  let harness: ReturnType<typeof redisBusHarness> | undefined;
  const raw = new Redis(redisUrl ?? 'redis://127.0.0.1:6379', { lazyConnect: true });
  afterEach(async () => {
    await harness?.dispose();
    raw.disconnect();
  });

  it('dead-letters malformed entries with the reason, acknowledges them and keeps consuming', async () => {
    const registry = new EventTypeRegistry({ strict: true }).register('task.created', z.strictObject({ title: z.string() }));
    harness = redisBusHarness(redisUrl!, { registry });
    const deadLetters = new MemoryDeadLetters();
    const bus = await harness.createBus({ deadLetters });
    const group = 'g-malformed';
    const seen: string[] = [];
    await bus.subscribe('*', (e) => void seen.push(e.id), { group });
    await bus.start();
    const stream = `${harness.prefix}events:stream`;
    await raw.xadd(stream, '*', 'e', '{not json');
    await raw.xadd(stream, '*', 'e', JSON.stringify({ id: 'nope', type: 'task.created' }));
    await raw.xadd(stream, '*', 'e', JSON.stringify(createEvent({ type: 'agent.unknown', data: {} })));
    await raw.xadd(stream, '*', 'nothing', 'here');
    const good = createEvent({ type: 'task.created', data: { title: 'ok' } });
    await bus.publish(good);
    await waitFor(() => seen.length === 1, 5000, 'the valid event after the bad ones');
    await waitFor(async () => (await deadLetters.list()).length === 4, 5000, 'four dead letters');
    expect(seen).toEqual([good.id]);
    const letters = await deadLetters.list();
    const reasons = letters.map((l) => l.error.message).join(' | ');
    expect(reasons).toMatch(/invalid event JSON/);
    expect(reasons).toMatch(/invalid event envelope at id/);
    expect(reasons).toMatch(/unknown event type "agent\.unknown"/);
    expect(reasons).toMatch(/missing event field/);
    for (const l of letters) expect(l).toMatchObject({ handlerId: group, attempts: 1, event: { type: 'sagaflow.malformed-entry' } });
    expect(letters.some((l) => l.event.data.raw === '{not json')).toBe(true);
    await waitFor(async () => ((await raw.xpending(stream, group)) as [number])[0] === 0, 3000, 'nothing pending');
  });

  it('dead-letters an entry whose consumers keep dying once its delivery count passes maxAttempts', async () => {
    harness = redisBusHarness(redisUrl!);
    const deadLetters = new MemoryDeadLetters();
    const group = 'g-crashloop';
    let calls = 0;
    const e = createEvent({ type: 'job.crash', data: {} });
    for (let i = 0; i < 4; i++) {
      const bus = await harness.createBus({ deadLetters });
      let started = false;
      await bus.subscribe('job.*', async () => {
        calls++;
        started = true;
        await new Promise(() => undefined);
      }, { group, maxAttempts: 3, timeoutMs: 60_000 });
      await bus.start();
      if (i === 0) await bus.publish(e);
      if (i < 3) {
        await waitFor(() => started, 5000, `attempt ${i + 1} to start`);
        bus.crash();
      } else {
        await waitFor(async () => (await deadLetters.list()).length === 1, 5000, 'dead letter after 3 deliveries');
      }
    }
    expect(calls).toBe(3);
    expect((await deadLetters.list())[0]).toMatchObject({ attempts: 3, error: { code: 'MAX_DELIVERIES' }, event: { id: e.id } });
  });

  it('reclaims all entries held by a dead consumer and processes each once', async () => {
    harness = redisBusHarness(redisUrl!, { readCount: 500, workers: 500 });
    const deadLetters = new MemoryDeadLetters();
    const group = 'g-reclaim';
    const doomed = await harness.createBus({ deadLetters });
    let held = 0;
    await doomed.subscribe('bulk.*', async () => {
      held++;
      await new Promise(() => undefined);
    }, { group, concurrency: 500, timeoutMs: 60_000 });
    await doomed.start();
    const events = Array.from({ length: 500 }, () => createEvent({ type: 'bulk.item', data: {} }));
    await doomed.publish(events);
    await waitFor(() => held === 500, 10_000, 'dead consumer to hold 500 entries');
    doomed.crash();
    const counts = new Map<string, number>();
    const survivor = await harness.createBus({ deadLetters });
    await survivor.subscribe('bulk.*', (e) => void counts.set(e.id, (counts.get(e.id) ?? 0) + 1), { group, concurrency: 50 });
    await survivor.start();
    await waitFor(() => counts.size === 500, 15_000, 'all 500 reclaimed');
    await new Promise((r) => setTimeout(r, 200));
    expect([...counts.values()].every((n) => n === 1)).toBe(true);
    expect(await deadLetters.list()).toEqual([]);
  });

  // A cluster that restarts daemons would otherwise collect one consumer per restart in every group.
  it('removes a dead consumer that holds nothing from the group, and keeps the live ones', async () => {
    harness = redisBusHarness(redisUrl!);
    const deadLetters = new MemoryDeadLetters();
    const group = 'g-cleanup';
    const stream = `${harness.prefix}events:stream`;
    const dead = await harness.createBus({ deadLetters });
    await dead.subscribe('*', () => undefined, { group });
    await dead.start();
    await dead.publish(createEvent({ type: 'job.done', data: {} }));
    const info = new Redis(redisUrl!);
    const names = async () => ((await info.xinfo('CONSUMERS', stream, group)) as unknown[][]).map((f) => String(f[f.indexOf('name') + 1]));
    await waitFor(async () => (await names()).length === 1, 3000, 'the first consumer in the group');
    await dead.stop({ drainTimeoutMs: 1000 }); // it holds nothing: everything it read was acknowledged
    const [deadName] = await names();
    const live = await harness.createBus({ deadLetters });
    await live.subscribe('*', () => undefined, { group });
    await live.start();
    await live.publish(createEvent({ type: 'job.done', data: {} })); // read by the live consumer: it joins the group
    await waitFor(async () => (await names()).length === 2, 3000, 'the second consumer in the group');
    // claimIdleMs is 300 ms in the harness: a consumer idle 10x that with nothing pending is removed.
    try {
      await waitFor(async () => !(await names()).includes(deadName!), 10_000, 'the dead consumer removed');
      expect((await names()).length).toBe(1);
    } finally {
      info.disconnect();
    }
  });
});

