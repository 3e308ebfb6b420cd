import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';
import { connectWs, type TestWsClient } from '../support/ws-client.js';

/**
 * The live feed end to end: a WebSocket client of one daemon sees the events and saga transitions that another
 * daemon on the same Postgres commits (followed from the event log and the saga history, not from this
 * process's memory), and the same on embedded PGlite.
 */
describe.runIf(hasPostgres())('live feed across daemons (Postgres)', () => {
  let first: TestDaemon;
  let second: TestDaemon;
  const clients: TestWsClient[] = [];

  beforeAll(async () => {
    first = await openTestDaemon('postgres', { name: 'live_a', sagas: [OrderSaga] });
    // The first daemon's engine stops (its API and WebSocket bridge stay up): every step from now on is the second's.
    await first.daemon.engine.stop();
    second = await openTestDaemon('postgres', { name: 'live_b', sagas: [OrderSaga], schema: first.schema });
  });
  afterAll(async () => {
    for (const c of clients) c.ws.terminate();
    await second?.dispose();
    await first?.dispose();
  });

  it('a transition made by the second daemon, and the events it emitted, reach a client of the first', async () => {
    const client = await connectWs(first.daemon.url, { token: first.token });
    clients.push(client);
    const key = `o-${Date.now()}`;
    await client.subscribe([`saga:Order:${key}`, 'payment.*']);
    const api = new ApiClient({ url: second.daemon.url, token: second.token, reason: 'test' });
    await api.publish({ type: 'order.placed', data: { orderId: key, amount: 5 } });
    const placed = await client.next((m) => m.type === 'transition' && (m.payload as { toState: unknown }).toState === 'awaitingPayment');
    expect(placed).toMatchObject({ eventType: 'order.placed', payload: { saga: 'Order', key, fromState: null, kind: 'applied' }, metadata: { saga: 'Order', key } });
    const requested = await client.next((m) => m.type === 'event' && m.eventType === 'payment.requested');
    expect(requested).toMatchObject({ payload: { orderId: key }, metadata: { saga: 'Order', sagaKey: key } });
    // A step that emits nothing (no commit notification of its own) is seen too.
    await api.publish({ type: 'order.noted', data: { orderId: key } });
    await client.next((m) => m.type === 'transition' && m.eventType === 'order.noted');
    await api.publish({ type: 'payment.succeeded', data: { orderId: key } });
    await client.next((m) => m.type === 'transition' && (m.payload as { toState: unknown }).toState === 'paid');
    // Exactly what matched: this instance's transitions (not the other's), and the payment.* events (the other's too).
    const other = `p-${Date.now()}`;
    await api.publish({ type: 'order.placed', data: { orderId: other } });
    await client.next((m) => m.type === 'event' && (m.payload as { orderId: string }).orderId === other);
    await new Promise((r) => setTimeout(r, 800));
    const of = (type: string) => client.messages.filter((m) => m.type === type);
    expect(of('transition').map((m) => `${String(m.eventType)} ${(m.payload as { key: string }).key}`)).toEqual([`order.placed ${key}`, `order.noted ${key}`, `payment.succeeded ${key}`]);
    expect(of('event').map((m) => `${String(m.eventType)} ${(m.payload as { orderId: string }).orderId}`)).toEqual([`payment.requested ${key}`, `payment.succeeded ${key}`, `payment.requested ${other}`]);
    await api.close();
  });
});

describe('live feed on embedded PGlite', () => {
  let daemon: TestDaemon;
  beforeAll(async () => {
    daemon = await openTestDaemon('pglite', { name: 'live_pglite', sagas: [OrderSaga] });
  }, 120_000); // PGlite's start (WASM) is slow on a loaded machine
  afterAll(async () => {
    await daemon?.dispose();
  });

  it('streams transitions and events to a subscriber', async () => {
    const client = await connectWs(daemon.daemon.url, { token: daemon.token });
    await client.subscribe(['saga:Order', 'order.*']);
    const api = new ApiClient({ url: daemon.daemon.url, token: daemon.token, reason: 'test' });
    await api.publish({ type: 'order.placed', data: { orderId: 'g-1' } });
    await client.next((m) => m.type === 'event' && m.eventType === 'order.placed');
    await client.next((m) => m.type === 'transition' && (m.payload as { key: string }).key === 'g-1');
    client.ws.terminate();
    await api.close();
  });
});
