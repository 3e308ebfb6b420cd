import { afterEach, describe, expect, it } from 'vitest';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import { NonRetryableError, ValidationError } from '../../src/core/errors.js';
import type { DeadLetters } from '../../src/core/ports/dead-letters.js';
import type { EventBus, HandlerContext } from '../../src/core/ports/event-bus.js';
import { MemoryDeadLetters } from '../../src/memory/dead-letters.js';

/** A bus instance under test plus a way to kill it as a crashed process would die. */
export type TestBus = EventBus & { crash(): void };

/** One transport for one test: every bus it creates shares the transport (and a Redis key prefix). */
export interface BusHarness {
  /** A new, unstarted bus instance on its own connection(s). */
  createBus(options: { deadLetters: DeadLetters }): Promise<TestBus>;
  /** Stops buses and deletes everything the test created. */
  dispose(): Promise<void>;
}

export type BusHarnessFactory = () => Promise<BusHarness>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true, failing after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}

const ev = (type: string, streamId = `s-${crypto.randomUUID()}`, data: Record<string, unknown> = {}): EventEnvelope =>
  createEvent({ type, streamId, data });

const fast = { initialMs: 5, maxMs: 20 };

/** The EventBus conformance suite: every transport (and the hybrid) must pass it unchanged. */
export function eventBusSuite(name: string, factory: BusHarnessFactory): void {
  describe(`EventBus conformance: ${name}`, () => {
    let harness: BusHarness | undefined;
    afterEach(async () => {
      await harness?.dispose();
      harness = undefined;
    });
    const setup = async () => {
      harness = await factory();
      const deadLetters = new MemoryDeadLetters();
      return { h: harness, deadLetters, bus: await harness.createBus({ deadLetters }) };
    };

    it('routes by pattern: "*", "task.*", "*.created" and exact types', async () => {
      const { bus } = await setup();
      const seen: Record<string, string[]> = { all: [], task: [], created: [], exact: [] };
      const g = crypto.randomUUID();
      await bus.subscribe('*', (e) => void seen.all!.push(e.type), { group: `${g}-all` });
      await bus.subscribe('task.*', (e) => void seen.task!.push(e.type), { group: `${g}-task` });
      await bus.subscribe('*.created', (e) => void seen.created!.push(e.type), { group: `${g}-created` });
      await bus.subscribe('task.completed', (e) => void seen.exact!.push(e.type), { group: `${g}-exact` });
      await bus.start();
      const types = ['task.created', 'task.completed', 'agent.created', 'agent.removed', 'task.step.done'];
      await bus.publish(types.map((t) => ev(t)));
      await waitFor(() => seen.all!.length === 5 && seen.task!.length === 2 && seen.created!.length === 2 && seen.exact!.length === 1);
      await sleep(100);
      expect(seen.all!.sort()).toEqual([...types].sort());
      expect(seen.task!.sort()).toEqual(['task.completed', 'task.created']);
      expect(seen.created!.sort()).toEqual(['agent.created', 'task.created']);
      expect(seen.exact).toEqual(['task.completed']);
    });

    it('fans out every event to every group', async () => {
      const { bus } = await setup();
      const a: string[] = [];
      const b: string[] = [];
      await bus.subscribe('task.*', (e) => void a.push(e.id), { group: `a-${crypto.randomUUID()}` });
      await bus.subscribe('task.*', (e) => void b.push(e.id), { group: `b-${crypto.randomUUID()}` });
      await bus.start();
      const events = Array.from({ length: 20 }, () => ev('task.created'));
      await bus.publish(events);
      await waitFor(() => a.length === 20 && b.length === 20);
      expect(new Set(a)).toEqual(new Set(events.map((e) => e.id)));
      expect(new Set(b)).toEqual(new Set(events.map((e) => e.id)));
    });

    it('splits a group between competing consumers on two bus instances, each event handled once', async () => {
      const { h, bus: one, deadLetters } = await setup();
      const two = await h.createBus({ deadLetters });
      const group = `workers-${crypto.randomUUID()}`;
      const byBus: [string[], string[]] = [[], []];
      const handler = (i: 0 | 1) => async (e: EventEnvelope) => {
        byBus[i].push(e.id);
        await sleep(15);
      };
      await one.subscribe('job.*', handler(0), { group });
      await two.subscribe('job.*', handler(1), { group });
      await one.start();
      await two.start();
      const events = Array.from({ length: 30 }, () => ev('job.queued'));
      for (const e of events) {
        await one.publish(e);
        await sleep(3);
      }
      await waitFor(() => byBus[0].length + byBus[1].length >= 30, 10_000);
      await sleep(150);
      const all = [...byBus[0], ...byBus[1]];
      expect(all).toHaveLength(30);
      expect(new Set(all)).toEqual(new Set(events.map((e) => e.id)));
      expect(byBus[0].length).toBeGreaterThan(0);
      expect(byBus[1].length).toBeGreaterThan(0);
    });

    it('keeps per-stream order for a handler while other streams run concurrently', async () => {
      const { bus } = await setup();
      const order = new Map<string, number[]>();
      let running = 0;
      let maxRunning = 0;
      await bus.subscribe(
        'order.*',
        async (e) => {
          running++;
          maxRunning = Math.max(maxRunning, running);
          await sleep(Math.floor(Math.random() * 6));
          order.set(e.streamId, [...(order.get(e.streamId) ?? []), e.data.n as number]);
          running--;
        },
        { group: `o-${crypto.randomUUID()}`, concurrency: 4 },
      );
      await bus.start();
      const streams = ['x', 'y', 'z'].map((s) => `${s}-${crypto.randomUUID()}`);
      const events = Array.from({ length: 10 }, (_, n) => streams.map((s) => ev('order.placed', s, { n }))).flat();
      await bus.publish(events);
      await waitFor(() => [...order.values()].reduce((n, l) => n + l.length, 0) === 30);
      for (const s of streams) expect(order.get(s)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(maxRunning).toBeGreaterThan(1);
    });

    it('retries a failing handler with backoff and dead-letters after exactly maxAttempts', async () => {
      const { bus, deadLetters } = await setup();
      const attempts: Array<{ attempt: number; at: number }> = [];
      const group = `poison-${crypto.randomUUID()}`;
      await bus.subscribe(
        'pay.*',
        (_e, ctx: HandlerContext) => {
          attempts.push({ attempt: ctx.attempt, at: Date.now() });
          throw new Error(`boom ${ctx.attempt}`);
        },
        { group, maxAttempts: 3, backoff: { initialMs: 40, factor: 2, jitter: false } },
      );
      await bus.start();
      const e = ev('pay.requested');
      await bus.publish(e);
      await waitFor(async () => (await deadLetters.list()).length === 1, 8000, 'dead letter');
      await sleep(200);
      expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
      // Exponential backoff without jitter: ≥ 40 ms then ≥ 80 ms between attempts.
      expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(35);
      expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(75);
      const [letter] = await deadLetters.list();
      expect(letter).toMatchObject({ handlerId: group, attempts: 3, status: 'open', event: { id: e.id, type: 'pay.requested' } });
      expect(letter!.error.message).toBe('boom 3');
      expect(letter!.error.stack).toContain('boom 3');
      expect(Date.parse(letter!.lastFailedAt)).toBeGreaterThanOrEqual(Date.parse(letter!.firstFailedAt));
    });

    it('succeeds on a retry without dead-lettering', async () => {
      const { bus, deadLetters } = await setup();
      const seen: number[] = [];
      await bus.subscribe(
        'flaky.*',
        (_e, ctx) => {
          seen.push(ctx.attempt);
          if (ctx.attempt < 3) throw new Error('transient');
        },
        { group: `f-${crypto.randomUUID()}`, maxAttempts: 5, backoff: fast },
      );
      await bus.start();
      await bus.publish(ev('flaky.thing'));
      await waitFor(() => seen.length === 3);
      await sleep(150);
      expect(seen).toEqual([1, 2, 3]);
      expect(await deadLetters.list()).toEqual([]);
    });

    it('dead-letters non-retryable and validation errors at once', async () => {
      const { bus, deadLetters } = await setup();
      let calls = 0;
      await bus.subscribe(
        'bad.*',
        (e) => {
          calls++;
          if (e.type === 'bad.typed') throw new NonRetryableError('cannot ever work');
          throw new ValidationError('payload', [{ path: 'data.x', message: 'required' }]);
        },
        { group: `nr-${crypto.randomUUID()}`, maxAttempts: 5, backoff: fast },
      );
      await bus.start();
      await bus.publish([ev('bad.typed'), ev('bad.invalid')]);
      await waitFor(async () => (await deadLetters.list()).length === 2);
      await sleep(100);
      expect(calls).toBe(2);
      const letters = await deadLetters.list();
      expect(letters.map((l) => [l.event.type, l.attempts, l.error.code]).sort()).toEqual([
        ['bad.invalid', 1, 'VALIDATION'],
        ['bad.typed', 1, 'NON_RETRYABLE'],
      ]);
    });

    it('times out a hanging handler via its signal without stalling other streams or groups', async () => {
      const { bus, deadLetters } = await setup();
      let aborted: unknown;
      const handled: string[] = [];
      const other: string[] = [];
      await bus.subscribe(
        'hang.*',
        async (e, ctx) => {
          if (e.data.hang) {
            ctx.signal.addEventListener('abort', () => (aborted = ctx.signal.reason));
            await new Promise(() => undefined); // never settles, ignores the signal
          }
          handled.push(e.id);
        },
        { group: `h-${crypto.randomUUID()}`, maxAttempts: 1, timeoutMs: 150, concurrency: 2 },
      );
      await bus.subscribe('hang.*', (e) => void other.push(e.id), { group: `o-${crypto.randomUUID()}` });
      await bus.start();
      const stuck = ev('hang.now', 'stuck', { hang: true });
      const fine = Array.from({ length: 5 }, () => ev('hang.now'));
      await bus.publish([stuck, ...fine]);
      await waitFor(() => handled.length === 5 && other.length === 6, 3000, 'other events while one handler hangs');
      await waitFor(async () => (await deadLetters.list()).length === 1, 3000, 'timeout dead letter');
      expect((await deadLetters.list())[0]).toMatchObject({ attempts: 1, error: { code: 'HANDLER_TIMEOUT' }, event: { id: stuck.id } });
      expect(aborted).toMatchObject({ code: 'HANDLER_TIMEOUT' });
    });

    it('acknowledges only after success: a consumer killed mid-handler leaves the event to another', async () => {
      const { h, bus: doomed, deadLetters } = await setup();
      const group = `ack-${crypto.randomUUID()}`;
      let started = false;
      const survivorSaw: string[] = [];
      await doomed.subscribe(
        'work.*',
        async () => {
          started = true;
          await new Promise(() => undefined); // the process dies before this finishes
        },
        { group, timeoutMs: 60_000 },
      );
      await doomed.start();
      const e = ev('work.todo');
      await doomed.publish(e);
      await waitFor(() => started, 5000, 'first consumer to start');
      const survivor = await h.createBus({ deadLetters });
      await survivor.subscribe('work.*', (x) => void survivorSaw.push(x.id), { group, timeoutMs: 60_000 });
      await survivor.start();
      await sleep(100);
      expect(survivorSaw).toEqual([]); // still owned by the live first consumer
      doomed.crash();
      await waitFor(() => survivorSaw.length === 1, 8000, 'redelivery to the surviving consumer');
      expect(survivorSaw).toEqual([e.id]);
      expect(await deadLetters.list()).toEqual([]);
    });

    it('stop() waits for handlers in flight', async () => {
      const { bus } = await setup();
      let finished = false;
      await bus.subscribe(
        'slow.*',
        async () => {
          await sleep(150);
          finished = true;
        },
        { group: `s-${crypto.randomUUID()}` },
      );
      await bus.start();
      let started = false;
      await bus.subscribe('slow.*', () => void (started = true), { group: `t-${crypto.randomUUID()}` });
      await bus.publish(ev('slow.op'));
      await waitFor(() => started);
      await sleep(20);
      await bus.stop({ drainTimeoutMs: 2000 });
      expect(finished).toBe(true);
    });
  });
}
