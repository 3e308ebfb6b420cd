import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { LeaseLostError } from '../../src/core/errors.js';
import { PostgresCheckpoints } from '../../src/postgres/checkpoints.js';
import { PostgresLeases } from '../../src/postgres/leases.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { Ownership, partitionLease, partitionOf } from '../../src/runtime/ownership.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { OrderSaga } from '../support/test-saga.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function leaseSuite(name: string, open: () => Promise<TestDb>): void {
  describe(`leases, fencing and ownership: ${name}`, () => {
    let t: TestDb;
    let leases: PostgresLeases;
    let checkpoints: PostgresCheckpoints;
    beforeAll(async () => {
      t = await open();
      leases = new PostgresLeases(t.db, { schema: t.schema });
      checkpoints = new PostgresCheckpoints(t.db, { schema: t.schema });
    });
    afterAll(() => t.dispose());

    it('gives a lease to one owner, bumps the epoch when another takes it after expiry, and honours release', async () => {
      const n = `work-${crypto.randomUUID()}`;
      const [a] = await leases.acquire([n], 'A', 200);
      expect(a).toMatchObject({ name: n });
      expect(await leases.acquire([n], 'B', 200)).toEqual([]); // held by A
      expect(await leases.renew([a!], 'A', 200)).toEqual([n]);
      await sleep(300);
      const [b] = await leases.acquire([n], 'B', 10_000);
      expect(b!.epoch).toBe(a!.epoch + 1);
      expect(await leases.renew([a!], 'A', 200)).toEqual([]); // A's epoch is stale
      await leases.release([a!], 'A'); // a stale release changes nothing
      expect(await leases.acquire([n], 'C', 200)).toEqual([]);
      await leases.release([b!], 'B');
      const [c] = await leases.acquire([n], 'C', 200); // released: taken at once, no expiry wait
      expect(c!.epoch).toBe(b!.epoch + 1);
    });

    it('saves a checkpoint only forward, and only while its fence holds', async () => {
      const n = `cp-${crypto.randomUUID()}`;
      const [g] = await leases.acquire([n], 'A', 10_000);
      const fence = { lease: n, owner: 'A', epoch: g!.epoch };
      expect(await checkpoints.saveFenced([{ name: n, cursor: '10.5', fence }])).toEqual([]);
      await checkpoints.saveFenced([{ name: n, cursor: '9.99', fence }]); // behind: ignored
      expect(await checkpoints.load(n)).toBe('10.5');
      await checkpoints.saveFenced([{ name: n, cursor: '100.1', fence }]); // 100 > 10 as numbers, not text
      expect(await checkpoints.load(n)).toBe('100.1');
      await leases.release([g!], 'A');
      await leases.acquire([n], 'B', 10_000);
      expect(await checkpoints.saveFenced([{ name: n, cursor: '200.1', fence }])).toEqual([n]); // stale owner
      expect(await checkpoints.load(n)).toBe('100.1');
    });

    it('refuses a step under a fence that another daemon took over, and writes nothing', async () => {
      const repository = new PostgresSagaRepository(t.db, { schema: t.schema });
      const runtime = new SagaRuntime({ repository, sagas: [OrderSaga], timers: false });
      const n = `p-${crypto.randomUUID()}`;
      const [a] = await leases.acquire([n], 'A', 10_000);
      const fence = { lease: n, owner: 'A', epoch: a!.epoch };
      const key = `o-${crypto.randomUUID()}`;
      const placed = createEvent({ type: 'order.placed', streamId: key, data: { orderId: key } });
      expect((await runtime.handleFor(OrderSaga, placed, { fence })).result).toBe('created');
      await leases.release([a!], 'A');
      await leases.acquire([n], 'B', 10_000);
      const noted = createEvent({ type: 'order.noted', streamId: key, data: { orderId: key } });
      await expect(runtime.handleFor(OrderSaga, noted, { fence })).rejects.toBeInstanceOf(LeaseLostError);
      expect(await repository.get('Order', key)).toMatchObject({ version: 1, context: { notes: 0 } });
      expect((await repository.history('Order', key)).map((h) => h.eventType)).toEqual(['order.placed']);
    });

    it('splits the partitions between two daemons, and the survivor takes them all when one stops', async () => {
      const partitions = 8;
      const make = (owner: string) => new Ownership({ leases, owner: `${owner}-${crypto.randomUUID()}`, partitions, ttlMs: 600 });
      const a = make('a');
      const b = make('b');
      await a.start();
      await b.start();
      for (let i = 0; i < 10; i++) {
        await a.tick();
        await b.tick();
      }
      const pa = [...a.ownedPartitions().keys()];
      const pb = [...b.ownedPartitions().keys()];
      expect(pa.filter((p) => pb.includes(p))).toEqual([]); // never two owners
      expect([...pa, ...pb].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(pa.length).toBe(4);
      await a.stop(); // hands its partitions back
      await b.tick();
      expect([...b.ownedPartitions().keys()].sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
      expect(b.fence(partitionLease(0))).toBeDefined();
      await b.stop();
    });
  });
}

describe('partitionOf', () => {
  it('is stable and spreads keys over the partitions', () => {
    expect(partitionOf('Order', 'o-1', 16)).toBe(partitionOf('Order', 'o-1', 16));
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 16_000; i++) counts[partitionOf('Order', `o-${i}`, 16)]!++;
    expect(Math.min(...counts)).toBeGreaterThan(700);
    expect(Math.max(...counts)).toBeLessThan(1300);
  });
});

leaseSuite('PGlite', pgliteTestDb);
describe.runIf(hasPostgres())('real Postgres', () => {
  leaseSuite('Postgres', () => pgTestDb());

  /** A fresh schema with a 300 ms lease held by daemon A, and A's fence on it. */
  const leaseOfA = async () => {
    const t = await pgTestDb();
    const leases = new PostgresLeases(t.db, { schema: t.schema });
    const repository = new PostgresSagaRepository(t.db, { schema: t.schema });
    const n = `p-${crypto.randomUUID()}`;
    const [a] = await leases.acquire([n], 'A', 300);
    return { t, leases, repository, n, a: a!, fence: { lease: n, owner: 'A', epoch: a!.epoch } };
  };

  // The takeover waits for a fenced step transaction in flight (FOR SHARE on the lease row), so no step of
  // the old owner can commit after the new owner took the lease. (A timer step is such a transaction; an
  // event step's write is one statement that holds the row the same way while it runs: see the next test.)
  it('a takeover waits for the fenced step in flight; the old owner’s next step is refused', async () => {
    const { t, leases, repository, n, a, fence } = await leaseOfA();
    try {
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let inside!: () => void;
      const entered = new Promise<void>((r) => (inside = r));
      const step = repository.step(async (tx) => {
        await tx.read('Order', 'k', 'e'); // the step's first statement checks the fence and holds the row
        inside();
        await held; // a step of A in flight while A's lease expires
      }, { fence, timer: true });
      await entered;
      await sleep(400); // expired
      expect(await leases.acquire([n], 'B', 10_000)).toEqual([]); // the step's share lock keeps B out for now
      release();
      await step;
      const [b] = await leases.acquire([n], 'B', 10_000);
      expect(b!.epoch).toBe(a.epoch + 1);
      await expect(repository.step((tx) => tx.read('Order', 'k', 'e'), { fence })).rejects.toBeInstanceOf(LeaseLostError);
    } finally {
      await t.dispose();
    }
  });

  // An event step reads, then writes in one statement that checks the fence again: a takeover between the
  // two makes the write refuse, and nothing of it commits.
  it('an event step whose lease was taken over between its read and its write writes nothing', async () => {
    const { t, leases, repository, n, a, fence } = await leaseOfA();
    try {
      const event = createEvent({ type: 'order.noted', streamId: 'k', data: { orderId: 'k' } });
      const step = repository.step(async (tx) => {
        expect((await tx.read('Order', 'k', event.id)).seen).toBe(false); // under the lease
        await sleep(400); // A's lease expires and B takes it
        const [b] = await leases.acquire([n], 'B', 10_000);
        expect(b!.epoch).toBe(a.epoch + 1);
        const emitted = [createEvent({ type: 'order.shipped', streamId: 'k', data: { orderId: 'k' } })];
        await tx.write({ saga: 'Order', key: 'k', event, emitted, history: { fromState: null, toState: null, effects: { emitted: [], timersScheduled: [], timersCancelled: [] }, kind: 'applied' } });
      }, { fence });
      await expect(step).rejects.toBeInstanceOf(LeaseLostError);
      expect((await repository.step((tx) => tx.read('Order', 'k', event.id))).seen).toBe(false); // no inbox row
      expect(await repository.history('Order', 'k')).toEqual([]);
      expect(await repository.store.readAll({ limit: 10 })).toMatchObject({ events: [] }); // nothing appended
    } finally {
      await t.dispose();
    }
  });
});
