import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import packagedChromium from '@sparticuz/chromium';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';
import { Trip } from '../support/trip-saga.js';

/**
 * The dashboard (`/ui`) in a real browser: Chromium driven by playwright-core. It watches an order progress
 * live (no reload: the page follows the WebSocket), resumes a failed trip with a reason asked by a prompt, and
 * leaves a screenshot in `test-artifacts/` (`SAGAFLOW_DOCS_SCREENSHOT=1` also writes `docs/dashboard.png`).
 *
 * The browser comes from npm (`@sparticuz/chromium`, a headless Chromium build that `npm ci` installs and the
 * first launch unpacks into the temp directory), so `npm ci && npm test` needs no system package;
 * `SAGAFLOW_CHROMIUM=/usr/bin/chromium` runs another Chromium instead.
 */
const chromiumPath = async (): Promise<string> => process.env.SAGAFLOW_CHROMIUM ?? (await packagedChromium.executablePath());
const root = path.resolve(import.meta.dirname, '../..');

describe.runIf(hasPostgres())('dashboard in a real browser', () => {
  let daemon: TestDaemon;
  let api: ApiClient;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const executablePath = await chromiumPath();
    if (process.env.SAGAFLOW_CHROMIUM && !existsSync(executablePath)) throw new Error(`SAGAFLOW_CHROMIUM=${executablePath}: no such file`);
    // One attempt: a poison event is dead-lettered at once.
    daemon = await openTestDaemon('postgres', { name: 'ui', sagas: [OrderSaga, Trip], flags: { 'processing.retry.maxAttempts': 1 } });
    api = new ApiClient({ url: daemon.daemon.url, token: daemon.token, reason: 'test' });
    browser = await chromium.launch({ executablePath, args: ['--headless', '--no-sandbox', '--disable-gpu'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (m) => void (m.type() === 'error' && pageErrors.push(m.text())));
    page.on('response', (r) => void (r.status() >= 400 && pageErrors.push(`${r.status()} ${r.url()}`)));
    // The page keeps the token the operator typed in localStorage; here it is there from the start.
    await page.addInitScript((token) => (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage.setItem('sagaflow.token', token), daemon.token);
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await daemon?.dispose();
  });

  it('lists sagas with counts by status, and shows a new instance live', async () => {
    await api.publish({ type: 'order.placed', data: { orderId: 'ui-1' } });
    await page.goto(`${daemon.daemon.url}/ui/`);
    await page.locator('#live[data-live="on"]').waitFor();
    await page.locator('tr[data-key="ui-1"]').waitFor();
    // Published while the page is open: it appears without a reload, and the counts follow.
    await api.publish({ type: 'order.placed', data: { orderId: 'ui-2' } });
    await page.locator('tr[data-key="ui-2"]').waitFor({ timeout: 10_000 });
    await expect.poll(() => page.locator('.count[data-status="running"]').getAttribute('data-count')).toBe('2');
    // Filtering by status.
    await page.locator('.count[data-status="completed"]').click();
    await page.locator('td.empty').waitFor();
    expect(await page.locator('tr[data-key]').count()).toBe(0);
  });

  it('shows an instance with its statechart and follows it live as it progresses', async () => {
    // A new order (the test saga's payment times out after 60 s).
    await api.publish({ type: 'order.placed', data: { orderId: 'ui-3' } });
    await expect.poll(async () => (await api.showSaga('Order', 'ui-3').catch(() => undefined))?.instance.status).toBe('running');
    await page.goto(`${daemon.daemon.url}/ui/#/saga/Order/ui-3`);
    await page.locator('#live[data-live="on"]').waitFor();
    await page.locator('[data-state="awaitingPayment"][data-active="true"]').waitFor();
    // The transition the instance waits for is marked.
    expect(await page.locator('[data-state="awaitingPayment"] .edge.awaited').allTextContents()).toContain('payment.succeeded → paid');
    expect(await page.locator('section h2').allTextContents()).toEqual(['Statechart', 'History', 'Pending timers', 'Emitted events', 'Dead letters']);
    expect(await page.locator('section:has(h2:text("Pending timers")) tbody tr').count()).toBe(2); // the reminder and the payment timeout
    await api.publish({ type: 'payment.succeeded', data: { orderId: 'ui-3' } });
    await page.locator('[data-state="paid"][data-active="true"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('[data-testid="instance-status"]').textContent()).toBe('completed');
    expect(await page.locator('.timeline li').count()).toBe(2);
  });

  it('resumes a failed saga with a reason asked by a prompt, and shows it compensating again', async () => {
    for (const type of ['trip.booked', 'trip.cancel', 'hotel.cancel.failed', 'hotel.cancel.failed']) await api.publish({ type, data: { tripId: 'trip-ui' } });
    await expect.poll(async () => (await api.showSaga('Trip', 'trip-ui').catch(() => undefined))?.instance.status, { timeout: 10_000 }).toBe('failed');
    await page.goto(`${daemon.daemon.url}/ui/#/saga/Trip/trip-ui`);
    await page.locator('[data-testid="instance-status"]:text("failed")').waitFor();
    await page.locator('[data-state="failed"][data-active="true"]').waitFor();
    let asked = '';
    page.once('dialog', (dialog) => {
      asked = dialog.message();
      void dialog.accept('hotel api is back (INC-7)');
    });
    await page.locator('button[data-action="resume"]').click();
    await page.locator('[data-testid="instance-status"]:text("compensating")').waitFor({ timeout: 10_000 });
    await page.locator('[data-state="compensating/awaitingReply"][data-active="true"]').waitFor();
    expect(asked).toMatch(/Reason for resume/);
    expect(await page.locator('#notice').textContent()).toBe('resume: done');
    const history = await api.sagaHistory('Trip', 'trip-ui');
    expect(history.at(-1)).toMatchObject({ eventType: 'sagaflow.resume', note: 'operator resume: hotel api is back (INC-7)' });

    mkdirSync(path.join(root, 'test-artifacts'), { recursive: true });
    await page.screenshot({ path: path.join(root, 'test-artifacts/dashboard.png'), fullPage: true });
    if (process.env.SAGAFLOW_DOCS_SCREENSHOT === '1') await page.screenshot({ path: path.join(root, 'docs/dashboard.png'), fullPage: true });
  });

  it('lists dead letters on their own page and discards one with a reason; the page never failed a script', async () => {
    await api.publish({ type: 'order.noted', data: { orderId: 'ui-2', poison: true } });
    await expect.poll(async () => (await api.listDeadLetters({ status: 'open' })).length, { timeout: 15_000 }).toBe(1);
    await page.goto(`${daemon.daemon.url}/ui/#/dead-letters`);
    await page.locator('h1:text("Dead letters")').waitFor();
    await page.locator('td:text("poisoned note")').waitFor();
    page.once('dialog', (dialog) => void dialog.accept('known bad test input'));
    await page.locator('button[data-action="discard"]').click();
    await page.locator('#notice:text("discard: done")').waitFor();
    await page.locator('p.empty').waitFor();
    expect((await api.listDeadLetters({ status: 'discarded' }))[0]).toMatchObject({ status: 'discarded', note: 'known bad test input' });
    expect(pageErrors).toEqual([]);
  });
});
