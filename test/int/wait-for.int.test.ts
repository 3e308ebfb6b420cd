import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { runCli } from '../support/cli-harness.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';

/** `waitFor` and `sagaflow sagas wait` against a daemon on Postgres: current state first, then live transitions. */
describe.runIf(hasPostgres())('waitFor and sagas wait', () => {
  let t: TestDaemon;
  let api: ApiClient;
  const place = (orderId: string) => api.publish({ type: 'order.placed', data: { orderId } });

  beforeAll(async () => {
    t = await openTestDaemon('postgres', { name: 'wait', sagas: [OrderSaga] });
    api = new ApiClient({ url: t.daemon.url, token: t.token, reason: 'test' });
  });
  afterAll(async () => {
    await api?.close();
    await t?.dispose();
  });

  it('resolves when a transition brings the condition, and at once when it already holds', async () => {
    await place('w-1');
    const waiting = api.waitFor('Order', 'w-1', { status: 'completed' }, { timeoutMs: 15_000 });
    let settled = false;
    void waiting.then(() => (settled = true), () => (settled = true));
    await new Promise((r) => setTimeout(r, 500));
    expect(settled).toBe(false);
    await api.publish({ type: 'payment.succeeded', data: { orderId: 'w-1' } });
    expect(await waiting).toMatchObject({ saga: 'Order', key: 'w-1', status: 'completed', state: 'paid' });
    const started = Date.now();
    expect(await api.waitFor('Order', 'w-1', { state: 'paid' }, { timeoutMs: 5000 })).toMatchObject({ state: 'paid' });
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('waits for an instance that does not exist yet, and for a tag', async () => {
    const created = api.waitFor('Order', 'w-2', { state: 'awaitingPayment' }, { timeoutMs: 15_000 });
    await new Promise((r) => setTimeout(r, 300));
    await place('w-2');
    expect(await created).toMatchObject({ key: 'w-2', state: 'awaitingPayment' });
    const tagged = api.waitFor('Order', 'w-2', { tag: 'compensating' }, { timeoutMs: 15_000 });
    await api.publish({ type: 'payment.failed', data: { orderId: 'w-2' } });
    expect(await tagged).toMatchObject({ status: 'compensating', state: 'compensating' });
  });

  it('times out with WAIT_TIMEOUT and the last instance seen; refuses a condition the saga cannot meet', async () => {
    await place('w-3');
    await api.waitFor('Order', 'w-3', { state: 'awaitingPayment' }, { timeoutMs: 10_000 });
    const err = await api.waitFor('Order', 'w-3', { status: 'completed' }, { timeoutMs: 600 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'WAIT_TIMEOUT', details: { timeoutMs: 600, instance: { key: 'w-3', state: 'awaitingPayment' } } });
    await expect(api.waitFor('Order', 'w-3', { state: 'payed' })).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('"payed" is not a state of Order') });
    await expect(api.waitFor('Order', 'w-3', { tag: 'nope' })).rejects.toMatchObject({ code: 'VALIDATION', message: expect.stringContaining('compensated, compensating') });
    await expect(api.waitFor('Order', 'w-3', { status: 'done' as never })).rejects.toMatchObject({ code: 'VALIDATION' });
    await expect(api.waitFor('Nope', 'w-3', { status: 'completed' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('sagaflow sagas wait: exit 0 when the condition holds, 7 on timeout, 2 on bad input', async () => {
    const env = { SAGAFLOW_URL: t.daemon.url, SAGAFLOW_API_TOKEN: t.token };
    await place('w-4');
    const pending = runCli(['sagas', 'wait', 'Order', 'w-4', '--status', 'completed', '--timeout', '15s'], env);
    await new Promise((r) => setTimeout(r, 500));
    await api.publish({ type: 'payment.succeeded', data: { orderId: 'w-4' } });
    const ok = await pending;
    expect(ok).toMatchObject({ code: 0, stdout: 'Order w-4: completed, state paid' });
    const late = await runCli(['sagas', 'wait', 'Order', 'w-4', '--state', 'compensating', '--timeout', '500ms', '--json'], env);
    expect(late.code).toBe(7);
    expect(late.stderr).toContain('timed out after 500 ms waiting for Order w-4 to reach state compensating');
    const both = await runCli(['sagas', 'wait', 'Order', 'w-4', '--state', 'paid', '--status', 'completed'], env);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('exactly one of --state, --tag or --status');
  });
});
