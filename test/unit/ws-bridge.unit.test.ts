import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OperatorApi } from '../../src/app/operator-api.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { LiveCloseCode, type LiveSource } from '../../src/api/ws-bridge.js';
import type { LiveItem, LiveListener } from '../../src/runtime/live-feed.js';
import type { StoredEvent } from '../../src/core/ports/event-store.js';
import type { SagaHistoryEntry } from '../../src/core/ports/saga-store.js';
import { connectWs, type TestWsClient } from '../support/ws-client.js';

const TOKEN = 'ws-test-token-0123456789';

/** A live source the test drives: every item pushed reaches the bridge's listeners at once. */
class FakeSource implements LiveSource {
  readonly listeners = new Set<LiveListener>();
  async subscribe(listener: LiveListener) {
    this.listeners.add(listener);
    return async () => void this.listeners.delete(listener);
  }
  push(item: LiveItem) {
    for (const l of this.listeners) l(item);
  }
}

let n = 0;
const event = (type: string, data: Record<string, unknown> = {}): LiveItem => {
  n++;
  const e: StoredEvent = {
    id: `e-${n}`, type, streamId: `s-${n}`, aggregateType: 'test', version: 1, timestamp: new Date(0).toISOString(), data, metadata: { correlationId: 'c' },
    position: n, cursor: `1.${n}`,
  };
  return { kind: 'event', event: e };
};
const transition = (saga: string, key: string): LiveItem => {
  n++;
  const t: SagaHistoryEntry = {
    seq: n, saga, key, eventId: `e-${n}`, eventType: 'order.placed', fromState: 'idle', toState: 'awaitingPayment',
    effects: { emitted: [], timersScheduled: [], timersCancelled: [] }, kind: 'applied', at: new Date(0).toISOString(),
  };
  return { kind: 'transition', transition: t };
};

const source = new FakeSource();
let server: ApiServer;
const open: TestWsClient[] = [];
const connect = async (...args: Parameters<typeof connectWs>) => {
  const c = await connectWs(...args);
  open.push(c);
  return c;
};
const refusal = (p: Promise<unknown>) => p.then(() => 'connected', (err: Error) => err.message);

beforeAll(async () => {
  server = await startApiServer({
    api: {} as OperatorApi, token: TOKEN, port: 0, live: source, allowedOrigins: ['https://ops.example.com'],
    liveLimits: { maxPayloadBytes: 1024, maxBufferedBytes: 256 * 1024, maxSubscriptions: 3 },
  });
});
afterAll(async () => {
  for (const c of open) c.ws.terminate();
  await server.stop();
});

describe('WebSocket bridge: who may connect', () => {
  it('refuses an upgrade without a token or with a wrong one (401), and takes one in the header or in the subprotocol', async () => {
    expect(await refusal(connect(server.url))).toMatch(/401/);
    expect(await refusal(connect(server.url, { token: 'wrong-token-0123456789' }))).toMatch(/401/);
    expect(await refusal(connect(server.url, { token: 'wrong-token-0123456789', protocolToken: true }))).toMatch(/401/);
    const byHeader = await connect(server.url, { token: TOKEN });
    const byProtocol = await connect(server.url, { token: TOKEN, protocolToken: true });
    // The token-carrying subprotocol is never echoed back: only ours is selected.
    expect(byProtocol.ws.protocol).toBe('sagaflow.v1');
    expect(byHeader.ws.protocol).toBe('sagaflow.v1');
  });

  it('refuses a browser Origin that is not allowed (403); the daemon\'s own origin and allowed ones pass', async () => {
    expect(await refusal(connect(server.url, { token: TOKEN, headers: { origin: 'https://evil.example' } }))).toMatch(/403/);
    expect(await refusal(connect(server.url, { token: TOKEN, headers: { origin: 'null' } }))).toMatch(/403/);
    await connect(server.url, { token: TOKEN, headers: { origin: server.url } });
    await connect(server.url, { token: TOKEN, headers: { origin: 'https://ops.example.com' } });
  });

  it('refuses a Host the daemon does not answer to (DNS rebinding), and other paths', async () => {
    expect(await refusal(connect(server.url, { token: TOKEN, headers: { host: 'attacker.example' } }))).toMatch(/403/);
    const ws = await import('ws');
    const other = new ws.WebSocket(`${server.url.replace('http', 'ws')}/nope`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await new Promise((r) => other.once('error', (e) => r(e.message)))).toMatch(/404/);
  });
});

describe('WebSocket bridge: limits', () => {
  it('closes the connection on a frame larger than maxPayload (1009)', async () => {
    const c = await connect(server.url, { token: TOKEN });
    c.send({ op: 'subscribe', patterns: ['x'.repeat(2000)] });
    expect((await c.closed).code).toBe(1009);
  });

  it('refuses more patterns than the cap per connection, and malformed ones, with an error message (the connection stays)', async () => {
    const c = await connect(server.url, { token: TOKEN });
    await c.subscribe(['a.*', 'b.*']);
    c.send({ op: 'subscribe', id: 'too-many', patterns: ['c.*', 'd.*'] });
    expect(await c.next((m) => m.id === undefined && m.type === 'error')).toMatchObject({ code: 'VALIDATION', details: { limit: 3 } });
    c.send({ op: 'subscribe', patterns: ['task..x'] });
    c.send({ op: 'subscribe', patterns: ['saga:'] });
    c.send('not json');
    c.send({ op: 'explode' });
    await c.next(() => c.messages.filter((m) => m.type === 'error').length === 5);
    // Answered in any order (a message that is not JSON is refused before a subscription is compiled).
    expect(c.messages.filter((m) => m.type === 'error').map((m) => m.message)).toHaveLength(5);
    expect(c.messages.filter((m) => m.type === 'error').map((m) => m.message)).toEqual(expect.arrayContaining([
      expect.stringContaining('at most 3 patterns'),
      expect.stringContaining('"task..x" is not an event type pattern'),
      expect.stringContaining('saga:<Saga>'),
      expect.stringContaining('is not JSON'),
      expect.stringContaining('"subscribe" or "unsubscribe"'),
    ]));
    // Still subscribed to what it had.
    source.push(event('a.one'));
    expect(await c.next((m) => m.eventType === 'a.one')).toMatchObject({ type: 'event' });
  });

  it('cuts off a client that reads too slowly (1013) while the others keep receiving every message', async () => {
    const slow = await connect(server.url, { token: TOKEN });
    const fast = await connect(server.url, { token: TOKEN });
    await slow.subscribe(['bulk.*']);
    await fast.subscribe(['bulk.*']);
    // The slow client stops reading: the kernel's buffers fill, then the server's send buffer.
    const socket = (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const blob = 'x'.repeat(64 * 1024);
    const total = 400; // 25 MiB: well past loopback's socket buffers plus the 256 KiB limit
    for (let i = 0; i < total; i++) {
      source.push(event('bulk.item', { i, blob }));
      await new Promise((r) => setImmediate(r)); // the fast client (in this process) reads between pushes
    }
    await fast.next((m) => m.eventType === 'bulk.item' && (m.payload as { i: number }).i === total - 1, 30_000);
    expect(fast.messages.filter((m) => m.eventType === 'bulk.item')).toHaveLength(total);
    expect(fast.ws.readyState).toBe(fast.ws.OPEN);
    socket.resume();
    const { code, reason } = await slow.closed;
    expect(code).toBe(LiveCloseCode.TooSlow);
    expect(reason).toMatch(/too slowly/);
    // It was cut off: it got fewer than all of them, and nothing after the cut.
    expect(slow.messages.filter((m) => m.eventType === 'bulk.item').length).toBeLessThan(total);
  }, 60_000);
});

describe('WebSocket bridge: filters', () => {
  it('delivers exactly the matching events and transitions to each client', async () => {
    const tasks = await connect(server.url, { token: TOKEN });
    const sagas = await connect(server.url, { token: TOKEN });
    const one = await connect(server.url, { token: TOKEN });
    const created = await connect(server.url, { token: TOKEN });
    await tasks.subscribe(['task.*']);
    await sagas.subscribe(['saga:Order']);
    await one.subscribe(['saga:Order:k:1']);
    await created.subscribe(['*.created', 'saga:*']);
    const items = [
      event('task.created', { id: 1 }), event('task.assigned'), event('task.sub.created'), event('agent.created'), event('taskx.created'),
      transition('Order', 'k:1'), transition('Order', 'k:2'), transition('Billing', 'k:1'), event('task.done'),
    ];
    for (const item of items) source.push(item);
    const got = async (c: TestWsClient, expected: string[]) => {
      await c.next(() => c.messages.filter((m) => m.type === 'event' || m.type === 'transition').length >= expected.length);
      await new Promise((r) => setTimeout(r, 100)); // nothing more arrives
      return c.messages.filter((m) => m.type === 'event' || m.type === 'transition').map((m) => m.type === 'event' ? m.eventType : `${(m.payload as { saga: string }).saga}/${(m.payload as { key: string }).key}`);
    };
    expect(await got(tasks, ['task.created', 'task.assigned', 'task.done'])).toEqual(['task.created', 'task.assigned', 'task.done']);
    expect(await got(sagas, ['Order/k:1', 'Order/k:2'])).toEqual(['Order/k:1', 'Order/k:2']);
    expect(await got(one, ['Order/k:1'])).toEqual(['Order/k:1']);
    expect(await got(created, ['task.created', 'agent.created', 'taskx.created', 'Order/k:1', 'Order/k:2', 'Billing/k:1'])).toEqual(
      ['task.created', 'agent.created', 'taskx.created', 'Order/k:1', 'Order/k:2', 'Billing/k:1'],
    );
    const first = tasks.messages.find((m) => m.eventType === 'task.created')!;
    expect(Object.keys(first).sort()).toEqual(['eventId', 'eventType', 'metadata', 'payload', 'timestamp', 'type']);
    expect(first).toMatchObject({ type: 'event', payload: { id: 1 }, metadata: { correlationId: 'c' } });
    const t = one.messages.find((m) => m.type === 'transition')!;
    expect(t).toMatchObject({ eventType: 'order.placed', payload: { saga: 'Order', key: 'k:1', fromState: 'idle', toState: 'awaitingPayment', kind: 'applied' }, metadata: { saga: 'Order', key: 'k:1' } });
  });

  it('stops sending what a client unsubscribed from', async () => {
    const c = await connect(server.url, { token: TOKEN });
    await c.subscribe(['u.*', 'v.*']);
    c.send({ op: 'unsubscribe', id: 'u', patterns: ['u.*'] });
    expect(await c.next((m) => m.id === 'u')).toMatchObject({ type: 'unsubscribed', patterns: ['v.*'] });
    source.push(event('u.one'));
    source.push(event('v.one'));
    await c.next((m) => m.eventType === 'v.one');
    expect(c.messages.some((m) => m.eventType === 'u.one')).toBe(false);
  });
});
