import os from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { newId } from '../../src/core/ids.js';
import type { ClaimedCommand } from '../../src/core/ports/work-queue.js';
import { defineHandler, type HandlerDefinition } from '../../src/core/worker/define-handler.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { createWorker } from '../../src/worker/client.js';
import { hasPostgres } from '../support/services.js';
import { waitFor } from '../support/wait-for.js';
import { openTestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';

/**
 * Workers on a real daemon (PGlite and Postgres): in-process handlers and remote workers over the HTTP API
 * answer the Order saga's commands; retries, leases that end unanswered, replies and commands that fail
 * their schemas, dead letters by worker name and an operator's retry.
 */


/** What the in-process handlers saw, per order id. */
const seen = new Map<string, Array<{ attempt: number; key: string; correlationId?: string }>>();
const note = (orderId: string, entry: { attempt: number; key: string; correlationId?: string }) => seen.set(orderId, [...(seen.get(orderId) ?? []), entry]);

/** Pays every order: fails the first two attempts of orders named `flaky-*`, replies with a bad reply for `badreply-*`. */
const payments = defineHandler({
  name: 'payments',
  handles: 'payment.requested',
  schema: z.object({ orderId: z.string() }),
  maxAttempts: 3,
  handle: (command, ctx) => {
    const { orderId } = command.data;
    note(orderId, { attempt: ctx.attempt, key: ctx.idempotencyKey, ...(command.metadata.correlationId ? { correlationId: command.metadata.correlationId } : {}) });
    if (orderId.startsWith('flaky-') && ctx.attempt < 3) throw new Error(`card declined (attempt ${ctx.attempt})`);
    if (orderId.startsWith('never-')) throw new Error('the bank is down');
    if (orderId.startsWith('badreply-')) return { type: 'payment.succeeded', data: { order: orderId } };
    return { type: 'payment.succeeded', data: { orderId } };
  },
});

/** A remote worker's handler: releases stock during compensation. */
const stock: HandlerDefinition = defineHandler({
  name: 'stock',
  handles: ['stock.release-requested'],
  handle: (command) => ({ type: 'stock.released', data: { orderId: String(command.data.orderId) } }),
});

const openDaemon = (store: 'pglite' | 'postgres') =>
  openTestDaemon(store, { name: 'workers', sagas: [OrderSaga], handlers: [payments], flags: { 'processing.retry.initialMs': 10, 'processing.retry.maxMs': 20 } });

/** The fields of API answers these tests read. */
interface ApiBody {
  code?: string;
  details: { issues: Array<{ path: string }> };
  commands?: ClaimedCommand[];
}

function workersSuite(open: () => ReturnType<typeof openDaemon>) {
  let daemon: Daemon;
  let token: string;
  let dispose: () => Promise<void>;
  const publish = (type: string, data: Record<string, unknown>) => daemon.engine.operator.publish({ type, data, streamId: String(data.orderId) });
  const stateOf = async (key: string) => (await daemon.engine.operator.showSaga('Order', key).catch(() => undefined))?.instance;
  const reached = (key: string, state: string) => waitFor(`Order ${key} in ${state}`, async () => (await stateOf(key))?.state === state && (await stateOf(key)));
  const api = async (method: string, route: string, body?: unknown) => {
    const res = await fetch(`${daemon.url}${route}`, {
      method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'test' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as ApiBody };
  };

  beforeAll(async () => {
    ({ daemon, token, dispose } = await open());
  });
  afterAll(() => dispose());

  it('a command committed just after a worker registered, with nothing after it, is queued for the worker within ~2 s', async () => {
    // First (nothing else runs): the feed delivers pages and reads its list of workers, without stock; the
    // order waits for its payment (its reply failed the schema).
    const key = `badreply-fresh-${newId()}`;
    await publish('order.placed', { orderId: key });
    await waitFor('a dead letter', async () => (await daemon.engine.operator.listDeadLetters({ handlerId: 'payments' })).find((l) => l.event.data.orderId === key));
    // Stock registers and its command comes within the second the feed keeps that list; no page follows it.
    expect((await api('POST', '/v1/workers/stock/register', { handles: ['stock.release-requested'] })).status).toBe(200);
    await publish('payment.failed', { orderId: key });
    const t = performance.now();
    const r = await api('POST', '/v1/workers/stock/claim', { workerId: `${os.hostname()}:${process.pid}`, max: 10, waitMs: 2500 });
    expect(r.body.commands?.map((c) => [c.command.type, c.command.data.orderId])).toEqual([['stock.release-requested', key]]);
    expect(performance.now() - t).toBeLessThan(2500);
    const claimed = r.body.commands![0]!;
    const done = await api('POST', `/v1/workers/stock/commands/${claimed.command.id}/complete`, { leaseToken: claimed.leaseToken, replies: [] });
    expect(done.status).toBe(200);
  });

  it('an in-process handler answers a command: the saga completes, the reply caused by the command and correlated with it', async () => {
    const key = `ok-${newId()}`;
    await publish('order.placed', { orderId: key, amount: 5 });
    await reached(key, 'paid');
    expect(seen.get(key)).toHaveLength(1);
    const reply = (await daemon.engine.store.query({ types: ['payment.succeeded'], streamIds: [key] }))[0]!;
    const command = (await daemon.engine.store.query({ types: ['payment.requested'], streamIds: [key] }))[0]!;
    expect(reply.metadata.causationId).toBe(command.id);
    expect(reply.metadata.correlationId).toBe(command.metadata.correlationId);
    expect(reply.metadata.worker).toBe('payments');
    expect(seen.get(key)![0]!.key).toBe(command.id);
  });

  it('retries a failing command with backoff and completes it on a later attempt', async () => {
    const key = `flaky-${newId()}`;
    await publish('order.placed', { orderId: key });
    await reached(key, 'paid');
    expect(seen.get(key)!.map((s) => s.attempt)).toEqual([1, 2, 3]);
    expect(new Set(seen.get(key)!.map((s) => s.key)).size).toBe(1);
  });

  it('dead-letters a command that fails every attempt under the worker name, and an operator retry gives it back', async () => {
    const key = `never-${newId()}`;
    await publish('order.placed', { orderId: key });
    const letter = await waitFor('a dead letter', async () => (await daemon.engine.operator.listDeadLetters({ handlerId: 'payments' })).find((l) => l.event.data.orderId === key));
    expect(letter.attempts).toBe(3);
    expect(letter.error.message).toContain('the bank is down');
    expect(letter.event.type).toBe('payment.requested');
    const before = seen.get(key)!.length;
    await daemon.engine.operator.retryDeadLetter(letter.id);
    await waitFor('the retried command handled again', async () => seen.get(key)!.length >= before + 3);
  });

  it('dead-letters a command whose reply fails its schema, naming the field, and stores no reply', async () => {
    const key = `badreply-${newId()}`;
    await publish('order.placed', { orderId: key });
    const letter = await waitFor('a dead letter', async () => (await daemon.engine.operator.listDeadLetters({ handlerId: 'payments' })).find((l) => l.event.data.orderId === key));
    expect(letter.error.message).toMatch(/invalid reply payment.succeeded .*at data\.orderId/);
    expect(letter.attempts).toBe(1);
    expect(await daemon.engine.store.query({ types: ['payment.succeeded'], streamIds: [key] })).toEqual([]);
    expect((await stateOf(key))?.state).toBe('awaitingPayment');
  });

  it('a remote worker over the HTTP API answers compensation commands; status shows both workers', async () => {
    const worker = createWorker({ url: daemon.url, token, handlers: [stock], waitMs: 2000 });
    await worker.start();
    try {
      const key = `comp-${newId()}`;
      await publish('order.placed', { orderId: key });
      await reached(key, 'paid');
      const key2 = `comp2-${newId()}`;
      await publish('order.placed', { orderId: key2 });
      await publish('payment.failed', { orderId: key2 });
      await reached(key2, 'compensated');
      const status = await daemon.engine.operator.status();
      expect(status.workers?.map((w) => w.name)).toEqual(['payments', 'stock']);
      expect(status.workers?.find((w) => w.name === 'stock')?.seenBy).toBe(`${os.hostname()}:${process.pid}`);
    } finally {
      await worker.stop();
    }
  });

  it('a command whose lease ends unanswered (its worker died) goes to the next worker, as attempt 2', async () => {
    await api('POST', '/v1/workers/stock/register', { handles: ['stock.release-requested'] });
    const key = `dead-${newId()}`;
    await publish('order.placed', { orderId: key });
    await publish('payment.failed', { orderId: key });
    await reached(key, 'compensating');
    // A worker that claims with a short lease and then never answers.
    const claimed = await waitFor('a claimed command', async () => {
      const r = await api('POST', '/v1/workers/stock/claim', { workerId: 'doomed', max: 10, leaseMs: 300, waitMs: 1000 });
      return (r.body.commands ?? []).find((c) => c.command.data.orderId === key);
    });
    expect(claimed.attempt).toBe(1);
    const attempts: number[] = [];
    const survivor = createWorker({
      url: daemon.url, token, waitMs: 1000,
      handlers: [defineHandler({ name: 'stock', handles: 'stock.release-requested', handle: (c, ctx) => {
        if (c.data.orderId === key) attempts.push(ctx.attempt);
        return { type: 'stock.released', data: { orderId: String(c.data.orderId) } };
      } })],
    });
    await survivor.start();
    try {
      await reached(key, 'compensated');
      expect(attempts).toEqual([2]);
      // The dead worker's late answer is refused: the command is someone else's now.
      const late = await api('POST', `/v1/workers/stock/commands/${claimed.command.id}/complete`, { leaseToken: claimed.leaseToken, replies: [] });
      expect(late.status).toBe(409);
      expect(late.body.code).toBe('WORK_LEASE_LOST');
    } finally {
      await survivor.stop();
    }
  });

  it('refuses a remote reply that fails its schema with a 400 naming the field, and dead-letters the command', async () => {
    await api('POST', '/v1/workers/stock/register', { handles: ['stock.release-requested'] });
    const key = `remote-bad-${newId()}`;
    await publish('order.placed', { orderId: key });
    await publish('payment.failed', { orderId: key });
    const claimed = await waitFor('a claimed command', async () => {
      const r = await api('POST', '/v1/workers/stock/claim', { workerId: 'sloppy', max: 10, waitMs: 1000 });
      return (r.body.commands ?? []).find((c) => c.command.data.orderId === key);
    });
    const reply = { id: newId(), type: 'stock.released', streamId: key, aggregateType: 'stock', version: 0, timestamp: new Date().toISOString(), data: { orderId: 42 }, metadata: {} };
    const r = await api('POST', `/v1/workers/stock/commands/${claimed.command.id}/complete`, { leaseToken: claimed.leaseToken, replies: [reply] });
    expect(r.status).toBe(400);
    expect(r.body.details.issues[0]?.path).toBe('data.orderId');
    const letters = await daemon.engine.operator.listDeadLetters({ handlerId: 'stock' });
    expect(letters.find((l) => l.event.id === claimed.command.id)?.error.message).toContain('data.orderId');
  });

  it('counts worker attempts in mcp_events_processed_total by command type, worker and outcome', async () => {
    const text = await daemon.metrics.registry.metrics();
    const count = (labels: string) => Number(new RegExp(`mcp_events_processed_total\\{${labels}\\} (\\d+)`).exec(text)?.[1] ?? 0);
    expect(count('event_type="payment.requested",handler="payments",status="success"')).toBeGreaterThan(0);
    expect(count('event_type="payment.requested",handler="payments",status="error"')).toBeGreaterThan(0);
    expect(count('event_type="stock.release-requested",handler="stock",status="success"')).toBeGreaterThan(0);
  });

  it('answers bad worker requests with a 4xx naming the field', async () => {
    expect((await api('POST', '/v1/workers/bad%20name/register', { handles: ['x.y'] })).status).toBe(400);
    const noHandles = await api('POST', '/v1/workers/w1/register', { handles: [] });
    expect(noHandles.status).toBe(400);
    expect(noHandles.body.details.issues[0]?.path).toBe('handles');
    const badPattern = await api('POST', '/v1/workers/w1/register', { handles: ['a..b'] });
    expect(badPattern.body.details.issues[0]?.path).toBe('handles.0');
    const badClaim = await api('POST', '/v1/workers/w1/claim', { workerId: 'x', leaseMs: 5 });
    expect(badClaim.status).toBe(400);
    expect(badClaim.body.details.issues[0]?.path).toBe('leaseMs');
    const badToken = await api('POST', `/v1/workers/w1/commands/${newId()}/complete`, { leaseToken: 'nope' });
    expect(badToken.body.details.issues[0]?.path).toBe('leaseToken');
  });
}

describe('workers on PGlite', () => workersSuite(() => openDaemon('pglite')));
describe.runIf(hasPostgres())('workers on Postgres', () => workersSuite(() => openDaemon('postgres')));

describe.runIf(hasPostgres())('workers across two daemons on one Postgres', () => {
  it('every command is answered once the daemons share the work: the feed on one, claims on both (woken by NOTIFY)', async () => {
    const handledBy = new Map<string, string[]>();
    const worker = (daemonName: string) =>
      defineHandler({
        // Two at a time, 30 ms each: neither daemon's worker can take all 40 commands as they come.
        name: 'payments', handles: 'payment.requested', concurrency: 2,
        handle: async (c) => {
          const orderId = String(c.data.orderId);
          handledBy.set(orderId, [...(handledBy.get(orderId) ?? []), daemonName]);
          await new Promise((r) => setTimeout(r, 30));
          return { type: 'payment.succeeded', data: { orderId } };
        },
      });
    const first = await openTestDaemon('postgres', { name: 'workers2', sagas: [OrderSaga], handlers: [worker('first')] });
    const second = await openTestDaemon('postgres', { name: 'workers2', sagas: [OrderSaga], handlers: [worker('second')], schema: first.schema });
    try {
      const keys = Array.from({ length: 40 }, (_, i) => `two-${i}-${newId()}`);
      await Promise.all(keys.map((key, i) => (i % 2 ? first : second).daemon.engine.operator.publish({ type: 'order.placed', data: { orderId: key }, streamId: key })));
      await waitFor('every order paid', async () => {
        const states = await Promise.all(keys.map(async (k) => (await first.daemon.engine.operator.showSaga('Order', k).catch(() => undefined))?.instance.state));
        return states.every((s) => s === 'paid');
      }, 30_000);
      // Each command answered once (no failure, no lease ended), and both daemons' workers took part.
      expect(keys.map((k) => handledBy.get(k)?.length)).toEqual(keys.map(() => 1));
      expect(new Set(keys.flatMap((k) => handledBy.get(k) ?? []))).toEqual(new Set(['first', 'second']));
      expect(await first.daemon.engine.operator.listDeadLetters({ handlerId: 'payments' })).toEqual([]);
    } finally {
      await second.dispose();
      await first.dispose();
    }
  }, 60_000);
});

