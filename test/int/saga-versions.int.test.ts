import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SagaVersionSummary } from '../../src/app/operator-api.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { runCli } from '../support/cli-harness.js';
import { databaseUrl, hasPostgres } from '../support/services.js';
import { waitFor } from '../support/wait-for.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';
import { OrderSagaV2 } from '../support/test-saga-v2.js';

/**
 * Versions side by side in one daemon on Postgres: instances started by v1 keep stepping on v1 after a
 * daemon loading v1 and v2 takes over, new instances start on v2; counts per version through the API; then
 * the CLI migrates the remaining v1 instances (dry run first), one of which fails its transform.
 */

const bothVersions = path.resolve(import.meta.dirname, '../support/test-saga-v2.ts');

describe.runIf(hasPostgres())('saga versions side by side on Postgres', () => {
  let first: TestDaemon;
  let second: TestDaemon;
  let daemon: Daemon;
  let dataDir: string;
  const publish = (d: Daemon, type: string, data: Record<string, unknown>) => d.engine.operator.publish({ type, data, streamId: String(data.orderId) });
  const instance = (d: Daemon, key: string) => d.engine.operator.showSaga('Order', key).then((s) => s.instance, () => undefined);
  const reached = (d: Daemon, key: string, match: (i: NonNullable<Awaited<ReturnType<typeof instance>>>) => boolean) =>
    waitFor(`Order ${key}`, async () => {
      const i = await instance(d, key);
      return i && match(i) ? i : undefined;
    });

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'sagaflow-versions-'));
    // A deployment of v1 starts three orders (one of amount 13, whose migration will fail), then is replaced.
    first = await openTestDaemon('postgres', { name: 'versions', sagas: [OrderSaga] });
    for (const [orderId, amount] of [['old-1', 5], ['old-2', 6], ['old-13', 13]] as const) await publish(first.daemon, 'order.placed', { orderId, amount });
    for (const k of ['old-1', 'old-2', 'old-13']) await reached(first.daemon, k, (i) => i.state === 'awaitingPayment');
    await first.daemon.stop();
    second = await openTestDaemon('postgres', { name: 'versions', sagas: [OrderSaga, OrderSagaV2], schema: first.schema });
    daemon = second.daemon;
  }, 120_000);
  afterAll(async () => {
    await second?.dispose();
    await first?.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('v1 instances keep stepping on v1 while new instances start on v2', async () => {
    await publish(daemon, 'order.noted', { orderId: 'old-1' });
    await reached(daemon, 'old-1', (i) => i.context.notes === 1);
    await publish(daemon, 'order.placed', { orderId: 'new-1', amount: 8 });
    const fresh = await reached(daemon, 'new-1', (i) => i.state === 'waitingForPayment');
    expect(fresh).toMatchObject({ definitionVersion: 2, context: { currency: 'EUR' } });
    await publish(daemon, 'order.noted', { orderId: 'new-1' });
    await reached(daemon, 'new-1', (i) => i.context.notes === 10);
    await publish(daemon, 'payment.succeeded', { orderId: 'old-1' });
    await publish(daemon, 'payment.succeeded', { orderId: 'new-1' });
    expect(await reached(daemon, 'old-1', (i) => i.status === 'completed')).toMatchObject({ definitionVersion: 1, state: 'paid' });
    expect(await reached(daemon, 'new-1', (i) => i.status === 'completed')).toMatchObject({ definitionVersion: 2, state: 'paid' });
    expect(await daemon.engine.operator.listDeadLetters({ saga: 'Order' })).toEqual([]);
  });

  it('the API and status count instances per version', async () => {
    const res = await fetch(`${daemon.url}/v1/sagas/versions?saga=Order`, { headers: { authorization: `Bearer ${second.token}` } });
    expect(res.status).toBe(200);
    const rows = (await res.json()) as SagaVersionSummary[];
    expect(rows.map((r) => [r.version, r.loaded, r.newest, r.instances, r.open])).toEqual([[1, true, false, 3, 2], [2, true, true, 1, 0]]);
    expect((await daemon.engine.operator.status()).versions).toEqual(rows);
    const bad = await fetch(`${daemon.url}/v1/sagas/Order/migrate`, {
      method: 'POST', headers: { authorization: `Bearer ${second.token}`, 'content-type': 'application/json', 'x-sagaflow-reason': 'test' }, body: JSON.stringify({ from: 1, to: 3 }),
    });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/version 3 of Order is not loaded/);
  });

  it('the CLI migrates the v1 instances still running: dry run first, a failing transform stays and exits non-zero', async () => {
    await daemon.stop();
    const env = { DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: second.schema, SAGAFLOW_DATA_DIR: dataDir, SAGAFLOW_SAGAS: bothVersions, SAGAFLOW_LOG_LEVEL: 'silent' };
    const versions = await runCli(['sagas', 'versions', 'Order'], env);
    expect(versions.code).toBe(0);
    expect(versions.stdout).toMatch(/v2 \(new instances\)/);

    const dry = await runCli(['sagas', 'migrate', 'Order', '--from', '1', '--to', '2', '--dry-run'], env);
    expect(dry.code).toBe(5);
    expect(dry.stdout).toContain('Order: would move 1 of 2 unfinished v1 instance(s) to v2 (dry run: nothing changed)');
    expect(dry.stderr).toContain('old-13: not migrated: saga "Order" instance "old-13": migration v1 → v2 failed: the transform threw: unlucky order');
    expect((await runCli(['sagas', 'list', '--definition', '2', '--json'], env)).stdout).not.toContain('old-2');

    const real = await runCli(['--json', 'sagas', 'migrate', 'Order', '--from', '1', '--to', '2', '--batch-size', '1'], env);
    expect(real.code).toBe(5);
    expect(JSON.parse(real.stdout)).toMatchObject({ saga: 'Order', from: 1, to: 2, dryRun: false, read: 2, moved: 1, failed: [{ key: 'old-13', error: { code: 'SAGA_MIGRATION_FAILED' } }] });
    const listed = JSON.parse((await runCli(['sagas', 'list', '--definition', '2', '--json'], env)).stdout) as Array<{ key: string; state: unknown }>;
    expect(listed.map((i) => [i.key, i.state]).sort()).toEqual([['new-1', 'paid'], ['old-2', 'waitingForPayment']]);
    const history = JSON.parse((await runCli(['sagas', 'history', 'Order', 'old-2', '--json'], env)).stdout) as Array<{ kind: string; note?: string }>;
    expect(history.at(-1)).toMatchObject({ kind: 'migrated', note: 'migrated from v1 to v2 by operator' });

    const bad = await runCli(['sagas', 'migrate', 'Order', '--from', '2', '--to', '1'], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/declares no migrateFrom\[2\]/);
  }, 60_000);
});
