import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import { EventTypeRegistry } from '../../src/core/events/registry.js';
import { ConcurrencyError, DuplicateEventError, PayloadTooLargeError, UnknownEventTypeError, ValidationError } from '../../src/core/errors.js';
import type { EventStore } from '../../src/core/ports/event-store.js';

/** Builds a store for the suite. `registry` is a strict registry with `task.created` registered. */
export type EventStoreFactory = (options: { registry?: EventTypeRegistry; maxEventBytes?: number }) => Promise<{
  store: EventStore;
  dispose(): Promise<void>;
}>;

const ev = (streamId: string, type = 'task.created', data: Record<string, unknown> = { n: 1 }, metadata: Record<string, string> = {}) =>
  createEvent({ type, streamId, aggregateType: type.split('.')[0]!, data, metadata });

/** The EventStore conformance suite: every implementation must pass it unchanged. */
export function eventStoreSuite(name: string, factory: EventStoreFactory): void {
  describe(`EventStore conformance: ${name}`, () => {
    let store: EventStore;
    let strict: EventStore;
    const disposers: Array<() => Promise<void>> = [];
    const registry = new EventTypeRegistry({ strict: true }).register('task.created', z.strictObject({ title: z.string().min(1) }));

    beforeAll(async () => {
      const a = await factory({});
      store = a.store;
      disposers.push(a.dispose);
      const b = await factory({ registry, maxEventBytes: 2048 });
      strict = b.store;
      disposers.push(b.dispose);
    });
    afterAll(async () => {
      for (const d of disposers) await d();
    });

    it('appends and reads a stream back in version order, as given', async () => {
      const s = `s-${crypto.randomUUID()}`;
      const events = [ev(s, 'task.created', { title: 'a' }, { correlationId: 'c1' }), ev(s, 'task.completed', { ok: true })];
      const res = await store.append(s, events, { expectedVersion: 'no-stream' });
      expect(res.duplicate).toBe(false);
      expect(res.nextVersion).toBe(2);
      const back = await store.readStream(s);
      expect(back.map((e) => [e.id, e.type, e.version])).toEqual([
        [events[0]!.id, 'task.created', 1],
        [events[1]!.id, 'task.completed', 2],
      ]);
      expect(back[0]!.data).toEqual({ title: 'a' });
      expect(back[0]!.metadata).toEqual({ correlationId: 'c1' });
      expect(back[0]!.timestamp).toBe(events[0]!.timestamp);
      expect(await store.streamVersion(s)).toBe(2);
      expect((await store.readStream(s, { fromVersion: 2 })).map((e) => e.version)).toEqual([2]);
    });

    it('checks the expected version: no-stream, exact, any', async () => {
      const s = `s-${crypto.randomUUID()}`;
      await store.append(s, [ev(s)], { expectedVersion: 'no-stream' });
      await expect(store.append(s, [ev(s)], { expectedVersion: 'no-stream' })).rejects.toBeInstanceOf(ConcurrencyError);
      const err = await store.append(s, [ev(s)], { expectedVersion: 5 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ code: 'CONCURRENCY', streamId: s, expected: 5, actual: 1 });
      await expect(store.append(s, [ev(s)], { expectedVersion: 1 })).resolves.toMatchObject({ nextVersion: 2 });
      await expect(store.append(s, [ev(s)], { expectedVersion: 'any' })).resolves.toMatchObject({ nextVersion: 3 });
      await expect(store.append(`s-${crypto.randomUUID()}`, [ev('x')], { expectedVersion: 3 })).rejects.toBeInstanceOf(ValidationError);
      const fresh = `s-${crypto.randomUUID()}`;
      await expect(store.append(fresh, [ev(fresh)], { expectedVersion: 3 })).rejects.toMatchObject({ code: 'CONCURRENCY', actual: 0 });
      expect(await store.streamVersion(fresh)).toBe(0);
    });

    it('lets exactly one of N concurrent appenders with the same expected version win', async () => {
      const s = `s-${crypto.randomUUID()}`;
      await store.append(s, [ev(s)]);
      const results = await Promise.allSettled(Array.from({ length: 12 }, () => store.append(s, [ev(s), ev(s)], { expectedVersion: 1 })));
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(11);
      for (const l of lost) expect(l.reason).toBeInstanceOf(ConcurrencyError);
      const versions = (await store.readStream(s)).map((e) => e.version);
      expect(versions).toEqual([1, 2, 3]);
    });

    it('never duplicates a version under concurrent appends with expectedVersion any', async () => {
      const s = `s-${crypto.randomUUID()}`;
      await Promise.all(Array.from({ length: 20 }, () => store.append(s, [ev(s)])));
      const versions = (await store.readStream(s)).map((e) => e.version);
      expect(versions).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    });

    it('treats a retried batch (same ids) as idempotent, and a partial overlap as an error', async () => {
      const s = `s-${crypto.randomUUID()}`;
      // Keys out of jsonb's order: the stored data comes back reordered and must still count as the same.
      const batch = [ev(s, 'task.created', { zeta: 1, a: [1, { yy: 2, b: 3 }] }), ev(s)];
      await store.append(s, batch);
      const again = await store.append(s, batch, { expectedVersion: 0 });
      expect(again.duplicate).toBe(true);
      expect(again.events.map((e) => e.id)).toEqual(batch.map((e) => e.id));
      await expect(store.append(s, [batch[0]!, ev(s)])).rejects.toBeInstanceOf(DuplicateEventError);
      // The same ids with other content are not a retry: refused, naming the id and the field.
      const changed = await store.append(s, [batch[0]!, { ...batch[1]!, data: { ...batch[1]!.data, changed: true } }]).catch((e: unknown) => e);
      expect(changed).toBeInstanceOf(DuplicateEventError);
      expect((changed as DuplicateEventError).details).toMatchObject({ eventIds: [batch[1]!.id], differs: 'data' });
      // A retry with another timestamp and the data's keys in another order is still the same event.
      const reordered = { ...batch[0]!, timestamp: new Date(Date.now() + 5000).toISOString(), data: Object.fromEntries(Object.entries(batch[0]!.data).reverse()) };
      await expect(store.append(s, [reordered, batch[1]!])).resolves.toMatchObject({ duplicate: true });
      expect(await store.readStream(s)).toHaveLength(2);
    });

    it('reads the global log in order with a cursor, across streams', async () => {
      const { next: start } = await readToEnd(store);
      const a = `a-${crypto.randomUUID()}`;
      const b = `b-${crypto.randomUUID()}`;
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const e1 = ev(a);
        const e2 = ev(b);
        ids.push(e1.id, e2.id);
        await store.append(a, [e1]);
        await store.append(b, [e2]);
      }
      const seen: string[] = [];
      let cursor = start;
      for (;;) {
        const page = await store.readAll({ ...(cursor === undefined ? {} : { after: cursor }), limit: 3 });
        if (page.events.length === 0) break;
        seen.push(...page.events.map((e) => e.id));
        cursor = page.next;
      }
      expect(seen).toEqual(ids);
      await expect(store.readAll({ after: 'not-a-cursor' })).rejects.toBeInstanceOf(ValidationError);
    });

    it('queries by type pattern, stream, aggregate type, time, metadata, with limit and order', async () => {
      const tag = crypto.randomUUID();
      const s1 = `q1-${tag}`;
      const s2 = `q2-${tag}`;
      await store.append(s1, [ev(s1, 'task.created', {}, { tag }), ev(s1, 'task.completed', {}, { tag })]);
      await store.append(s2, [ev(s2, 'context.created', {}, { tag }), ev(s2, 'task_x.created', {}, { tag })]);
      const types = async (q: Parameters<EventStore['query']>[0]) => (await store.query({ metadata: { tag }, ...q })).map((e) => e.type);
      expect(await types({ types: ['task.*'] })).toEqual(['task.created', 'task.completed']);
      expect(await types({ types: ['*.created'] })).toEqual(['task.created', 'context.created', 'task_x.created']);
      expect(await types({ types: ['*'] })).toHaveLength(4);
      expect(await types({ types: ['task.completed', 'context.*'] })).toEqual(['task.completed', 'context.created']);
      expect(await types({ streamIds: [s2] })).toEqual(['context.created', 'task_x.created']);
      expect(await types({ aggregateType: 'context' })).toEqual(['context.created']);
      expect(await types({ order: 'desc', limit: 2 })).toEqual(['task_x.created', 'context.created']);
      expect(await types({ from: new Date(Date.now() + 60_000) })).toEqual([]);
      expect(await types({ to: new Date(Date.now() + 60_000) })).toHaveLength(4);
      // LIKE wildcards in input are literals, not patterns.
      expect(await types({ types: ['task_.created'] })).toEqual([]);
    });

    it('bounds a query by bytes: stops before the event that would pass maxBytes, always returns the first', async () => {
      const s = `bytes-${crypto.randomUUID()}`;
      await store.append(s, Array.from({ length: 5 }, (_, i) => ev(s, 'task.created', { t: `${i}${'x'.repeat(999)}` })));
      const two = await store.query({ streamIds: [s], limit: 10, maxBytes: 2500 });
      expect(two.map((e) => (e.data.t as string)[0])).toEqual(['0', '1']);
      const newest = await store.query({ streamIds: [s], limit: 10, maxBytes: 2500, order: 'desc' });
      expect(newest.map((e) => (e.data.t as string)[0])).toEqual(['4', '3']);
      expect(await store.query({ streamIds: [s], limit: 10, maxBytes: 1 })).toHaveLength(1);
      expect(await store.query({ streamIds: [s], limit: 10 })).toHaveLength(5);
    });

    it('rejects malicious or malformed queries with a validation error naming the field', async () => {
      const bad = [
        [{ order: 'position; DROP TABLE events' }, 'order'],
        [{ types: ["task.created' OR 1=1 --"] }, 'types.0'],
        [{ limit: 1_000_000 }, 'limit'],
        [{ sortBy: 'type' }, ''],
        [{ from: 'yesterday' }, 'from'],
      ] as const;
      for (const [q, path] of bad) {
        const err = await store.query(q as never).catch((e: unknown) => e);
        expect(err, JSON.stringify(q)).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).issues[0]!.path).toBe(path);
      }
      expect(await store.query({ types: ['task.created'], limit: 1 })).toBeDefined();
    });

    it('rejects bad input with a typed error naming the field, and writes nothing', async () => {
      const s = `bad-${crypto.randomUUID()}`;
      const cases: Array<[EventEnvelope[], new (...a: never[]) => Error, string?]> = [
        [[{ ...ev(s), id: 'nope' }], ValidationError, 'events[0].id'],
        [[{ ...ev(s), extra: 1 } as EventEnvelope], ValidationError, 'events[0]'],
        [[{ ...ev(s), type: '' }], ValidationError, 'events[0].type'],
        [[ev('other-stream')], ValidationError, 'events[0].streamId'],
        [[ev(s, 'task.created', { title: 'x'.repeat(300_000) })], PayloadTooLargeError],
        [[], ValidationError, 'events'],
        // What Postgres text and jsonb cannot hold, refused by every store alike.
        [[ev(s, 'task.created', { title: 'a\u0000b' })], ValidationError, 'events[0].data.title'],
        [[ev(s, 'task.created', { title: 'x\ud800' })], ValidationError, 'events[0].data.title'],
        [[ev(s, 'task.created', { n: Number.POSITIVE_INFINITY })], ValidationError, 'events[0].data.n'],
        [[ev(s, 'task.created', { n: Number.NaN })], ValidationError, 'events[0].data.n'],
        [[{ ...ev(s), metadata: { correlationId: '\u0000' } }], ValidationError, 'events[0].metadata.correlationId'],
      ];
      for (const [events, type, path] of cases) {
        const err = await store.append(s, events).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(type);
        if (path !== undefined) expect((err as ValidationError).issues[0]!.path).toBe(path);
      }
      // Strict registry: unknown types, schema mismatches and the configured cap.
      await expect(strict.append(s, [ev(s, 'task.unknown', {})])).rejects.toBeInstanceOf(UnknownEventTypeError);
      const mismatch = await strict.append(s, [ev(s, 'task.created', { title: 7 })]).catch((e: unknown) => e);
      expect(mismatch).toBeInstanceOf(ValidationError);
      expect((mismatch as ValidationError).issues[0]!.path).toBe('events[0].data.title');
      await expect(strict.append(s, [ev(s, 'task.created', { title: 'y'.repeat(3000) })])).rejects.toBeInstanceOf(PayloadTooLargeError);
      await expect(strict.append(s, [ev(s, 'task.created', { title: 'ok' })])).resolves.toMatchObject({ nextVersion: 1 });
      expect(await store.readStream(s)).toHaveLength(0);
    });

    it('saves and loads snapshots, never going back to an older version', async () => {
      const s = `snap-${crypto.randomUUID()}`;
      expect(await store.loadSnapshot(s)).toBeUndefined();
      await store.saveSnapshot(s, 10, { total: 10, items: ['a'] });
      expect(await store.loadSnapshot(s)).toMatchObject({ streamId: s, version: 10, state: { total: 10, items: ['a'] } });
      await store.saveSnapshot(s, 20, { total: 20 });
      expect(await store.loadSnapshot(s)).toMatchObject({ version: 20, state: { total: 20 } });
      await store.saveSnapshot(s, 15, { total: 15 }); // a slower writer's older snapshot arrives late
      expect(await store.loadSnapshot(s)).toMatchObject({ version: 20, state: { total: 20 } });
    });
  });
}

/** Follows the global log to its current end. */
export async function readToEnd(store: EventStore, after?: string): Promise<{ ids: string[]; next: string | undefined }> {
  const ids: string[] = [];
  let cursor = after;
  for (;;) {
    const page = await store.readAll({ ...(cursor === undefined ? {} : { after: cursor }), limit: 500 });
    if (page.events.length === 0) return { ids, next: cursor };
    ids.push(...page.events.map((e) => e.id));
    cursor = page.next;
  }
}
