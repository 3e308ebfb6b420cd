import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConcurrencyError, SagaflowError, UnknownEventTypeError } from '../../src/core/errors.js';
import { createEvent } from '../../src/core/events/envelope.js';
import type { EventStore } from '../../src/core/ports/event-store.js';
import { defineAggregate, type AggregateOf } from '../../src/core/sourcing/aggregate.js';
import { AggregateRepository, type AggregateSnapshot } from '../../src/core/sourcing/aggregate-repository.js';
import { Agent, Context } from '../../sagas/index.js';

/** Builds a store for the suite (no registry: the aggregates validate their own events). */
export type AggregateStoreFactory = () => Promise<{ store: EventStore; dispose(): Promise<void> }>;

/** A store that counts the events `readStream` returns: how a test sees whether a load started from a snapshot. */
function counting(store: EventStore): { store: EventStore; read: () => number } {
  let read = 0;
  const wrapped = Object.create(store) as EventStore;
  wrapped.readStream = async (streamId, options) => {
    const events = await store.readStream(streamId, options);
    read += events.length;
    return events;
  };
  return { store: wrapped, read: () => { const n = read; read = 0; return n; } };
}

/** A tally whose state changes shape between schema versions 1 and 2 (v2 also keeps the largest item). */
const tallyEvents = { 'tally.added': z.object({ n: z.number().int() }) };
const tallyCommands = { add: (_s: unknown, n: number) => ({ type: 'tally.added' as const, data: { n } }) };
export const TallyV1 = defineAggregate({
  type: 'tally', schemaVersion: 1, events: tallyEvents, initialState: { total: 0, items: [] as number[] },
  evolve: (s, e) => ({ total: s.total + e.data.n, items: [...s.items, e.data.n] }),
  commands: tallyCommands,
});
export const TallyV2 = defineAggregate({
  type: 'tally', schemaVersion: 2, events: tallyEvents, initialState: { total: 0, items: [] as number[], max: null as number | null },
  evolve: (s, e) => ({ total: s.total + e.data.n, items: [...s.items, e.data.n], max: Math.max(s.max ?? e.data.n, e.data.n) }),
  commands: tallyCommands,
});

/** A Context command, as fast-check draws it. */
type ContextOp = { kind: 'create'; name: string; description: string } | { kind: 'update'; name?: string; description?: string };
const text = fc.string({ minLength: 1, maxLength: 12 });
const contextOp: fc.Arbitrary<ContextOp> = fc.oneof(
  fc.record({ kind: fc.constant('create' as const), name: text, description: fc.string({ maxLength: 12 }) }),
  fc.record({ kind: fc.constant('update' as const), name: fc.option(text, { nil: undefined }), description: fc.option(fc.string({ maxLength: 12 }), { nil: undefined }) }),
);

/** Runs one drawn command; a refused one (typed error) must leave the aggregate as it was. */
function run(ctx: AggregateOf<typeof Context>, op: ContextOp): void {
  const before = { state: ctx.state, pending: ctx.pending.length };
  try {
    if (op.kind === 'create') ctx.execute('create', { name: op.name, description: op.description, agentId: 'a1', createdBy: 'u1' });
    else ctx.execute('update', { ...(op.name !== undefined ? { name: op.name } : {}), ...(op.description !== undefined ? { description: op.description } : {}), updatedBy: 'u2' });
  } catch (err) {
    if (!(err instanceof SagaflowError)) throw err;
    expect({ state: ctx.state, pending: ctx.pending.length }).toEqual(before);
  }
}

/**
 * The aggregate repository conformance suite: every EventStore must pass it unchanged (memory, PGlite, Postgres).
 * `runs`: fast-check runs of each property (each run is a few round trips to the store).
 */
export function aggregateRepositorySuite(name: string, factory: AggregateStoreFactory, runs = 30): void {
  describe(`AggregateRepository on ${name}`, () => {
    let store: EventStore;
    let dispose: () => Promise<void>;
    beforeAll(async () => ({ store, dispose } = await factory()));
    afterAll(async () => dispose?.());

    it('property: the state loaded (snapshot + tail) equals the state built command by command, and a full replay of the stream', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.array(contextOp, { maxLength: 6 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 7 }), async (batches, frequency) => {
          const counted = counting(store);
          const contexts = new AggregateRepository(counted.store, Context, { snapshotFrequency: frequency });
          const id = crypto.randomUUID();
          let incremental = await contexts.load(id);
          for (const batch of batches) {
            for (const op of batch) run(incremental, op);
            const expected = incremental.state;
            await contexts.save(incremental);
            expect(incremental.state).toEqual(expected);
            incremental = await contexts.load(id); // the next batch runs on what was stored
            expect(incremental.state).toEqual(expected);
          }
          counted.read();
          const loaded = await contexts.load(id);
          const readOnLoad = counted.read();
          const all = await store.readStream(Context.streamId(id));
          expect(loaded.version).toBe(all.length);
          expect(loaded.state).toEqual(incremental.state);
          expect(loaded.state).toEqual(Context.fold(all));
          // The load read only the tail after the snapshot: fewer than `frequency` events plus one save's batch.
          const snapshot = await store.loadSnapshot<AggregateSnapshot<unknown>>(Context.streamId(id));
          expect(readOnLoad).toBe(all.length - (snapshot?.version ?? 0));
          if (all.length >= frequency) expect(snapshot?.state).toMatchObject({ aggregateType: 'context', schemaVersion: 1 });
        }),
        { numRuns: runs },
      );
    });

    it('property: rebuilding the Agent from all its events equals the state its commands built', async () => {
      const op = fc.oneof(fc.constant({ kind: 'register' as const }), fc.record({ kind: fc.constant('disconnect' as const), reason: fc.string({ maxLength: 10 }) }));
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 20 }), async (ops) => {
          const agents = new AggregateRepository(store, Agent, { snapshotFrequency: 4 });
          const id = crypto.randomUUID();
          const agent = await agents.load(id);
          for (const o of ops) {
            try {
              if (o.kind === 'register') agent.execute('register', { model: 'm', capabilities: ['x'] });
              else agent.execute('disconnect', { reason: o.reason });
            } catch (err) {
              if (!(err instanceof SagaflowError)) throw err;
            }
          }
          await agents.save(agent);
          expect(Agent.fold(await store.readStream(Agent.streamId(id)))).toEqual(agent.state);
          expect((await agents.load(id)).state).toEqual(agent.state);
        }),
        { numRuns: runs },
      );
    });

    it('snapshots every N versions and loads from the snapshot plus the tail', async () => {
      const counted = counting(store);
      const tallies = new AggregateRepository(counted.store, TallyV1, { snapshotFrequency: 10 });
      const id = crypto.randomUUID();
      const t = await tallies.load(id);
      for (let i = 1; i <= 9; i++) t.execute('add', i);
      expect(await tallies.save(t)).toMatchObject({ version: 9, snapshot: false });
      t.execute('add', 10);
      t.execute('add', 11);
      expect(await tallies.save(t)).toMatchObject({ version: 11, snapshot: true });
      t.execute('add', 12);
      expect(await tallies.save(t)).toMatchObject({ version: 12, snapshot: false });
      expect(await store.loadSnapshot(TallyV1.streamId(id))).toMatchObject({ version: 11, state: { aggregateType: 'tally', schemaVersion: 1, state: { total: 66 } } });
      counted.read();
      const loaded = await tallies.load(id);
      expect(counted.read()).toBe(1); // only version 12
      expect(loaded.state).toEqual({ total: 78, items: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] });
      expect(loaded.version).toBe(12);
    });

    it('ignores a snapshot of another schema version: rebuilds from the events, and the next save writes a fresh one', async () => {
      const id = crypto.randomUUID();
      const v1 = new AggregateRepository(store, TallyV1, { snapshotFrequency: 5 });
      const t = await v1.load(id);
      for (let i = 1; i <= 6; i++) t.execute('add', i);
      expect(await v1.save(t)).toMatchObject({ version: 6, snapshot: true });

      const counted = counting(store);
      const v2 = new AggregateRepository(counted.store, TallyV2, { snapshotFrequency: 1000 });
      const loaded = await v2.load(id);
      expect(counted.read()).toBe(6); // every event, not the v1 snapshot
      expect(loaded.state).toEqual({ total: 21, items: [1, 2, 3, 4, 5, 6], max: 6 });
      loaded.execute('add', 7);
      expect(await v2.save(loaded)).toMatchObject({ version: 7, snapshot: true }); // due although 7 < 1000
      expect(await store.loadSnapshot(TallyV2.streamId(id))).toMatchObject({ version: 7, state: { schemaVersion: 2, state: { max: 7 } } });
      expect((await v2.load(id)).state).toEqual({ total: 28, items: [1, 2, 3, 4, 5, 6, 7], max: 7 });
      expect(counted.read()).toBe(0);
      // The control: v1 does not take v2's snapshot either.
      expect((await v1.load(id)).state).toEqual({ total: 28, items: [1, 2, 3, 4, 5, 6, 7] });
      expect(counted.read()).toBe(0); // (v1 reads through the plain store)
    });

    it('refuses a stale save with a ConcurrencyError and writes nothing; a reload and retry succeeds', async () => {
      const contexts = new AggregateRepository(store, Context);
      const id = crypto.randomUUID();
      // Two creators of one new context: exactly one wins.
      const [a, b] = [await contexts.load(id), await contexts.load(id)];
      a.execute('create', { name: 'a', agentId: 'a1', createdBy: 'ua' });
      b.execute('create', { name: 'b', agentId: 'a1', createdBy: 'ub' });
      const results = await Promise.allSettled([contexts.save(a), contexts.save(b)]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const lost = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
      expect(lost.reason).toBeInstanceOf(ConcurrencyError);
      expect(lost.reason).toMatchObject({ streamId: Context.streamId(id), expected: 'no-stream', actual: 1 });
      // A stale update.
      const [c, d] = [await contexts.load(id), await contexts.load(id)];
      c.execute('update', { description: 'from c', updatedBy: 'uc' });
      d.execute('update', { description: 'from d', updatedBy: 'ud' });
      await contexts.save(c);
      const err = await contexts.save(d).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err).toMatchObject({ expected: 1, actual: 2 });
      expect(d.pending).toHaveLength(1); // still pending: nothing was committed
      expect((await store.readStream(Context.streamId(id))).map((e) => e.version)).toEqual([1, 2]);
      const retry = await contexts.load(id);
      retry.execute('update', { description: 'from d', updatedBy: 'ud' });
      await expect(contexts.save(retry)).resolves.toMatchObject({ version: 3 });
      expect((await contexts.load(id)).state.description).toBe('from d');
    });

    it('refuses to fold an event type the aggregate does not declare', async () => {
      const id = crypto.randomUUID();
      const streamId = Context.streamId(id);
      await store.append(streamId, [createEvent({ type: 'context.archived', streamId, aggregateType: 'context', data: {} })]);
      await expect(new AggregateRepository(store, Context).load(id)).rejects.toBeInstanceOf(UnknownEventTypeError);
    });

    it('loads a stream longer than one read page', async () => {
      const id = crypto.randomUUID();
      const streamId = TallyV1.streamId(id);
      const events = Array.from({ length: 2345 }, () => createEvent({ type: 'tally.added', streamId, aggregateType: 'tally', data: { n: 1 } }));
      for (let i = 0; i < events.length; i += 500) await store.append(streamId, events.slice(i, i + 500));
      const loaded = await new AggregateRepository(store, TallyV1).load(id);
      expect(loaded.version).toBe(2345);
      expect(loaded.state.total).toBe(2345);
    });
  });
}
