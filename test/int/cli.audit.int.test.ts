import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEntry } from '../../src/core/ports/audit-log.js';
import { newId } from '../../src/core/ids.js';
import { runCli } from '../support/cli-harness.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';

/** The CLI against a daemon with scoped tokens: `--reason` / `SAGAFLOW_REASON` reach the audit log, `sagaflow audit` lists it. */
describe.runIf(hasPostgres())('CLI reasons and sagaflow audit, through a daemon on Postgres', () => {
  let t: TestDaemon;
  const reader = `read-${newId()}`;
  beforeAll(async () => {
    t = await openTestDaemon('postgres', { name: 'cli_audit', sagas: [OrderSaga], flags: { 'http.tokens': [{ name: 'reader', token: reader, scope: 'read' }] } });
  }, 120_000);
  afterAll(() => t.dispose());

  const cli = (args: string[], env: Record<string, string> = {}) => runCli(['--url', t.daemon.url, ...args], { SAGAFLOW_API_TOKEN: t.token, ...env });

  it('a change without a reason exits 2 saying how to give one; with --reason or SAGAFLOW_REASON it is audited', async () => {
    const key = `o-${newId()}`;
    const data = JSON.stringify({ orderId: key });
    const missing = await cli(['publish', 'order.noted', '--data', data, '--stream', key]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/a reason is required for every change .*--reason/);

    expect((await cli(['publish', 'order.noted', '--data', data, '--stream', key, '--reason', 'note from the CLI — ünïcode'])).code).toBe(0);
    expect((await cli(['migrate'], { SAGAFLOW_REASON: 'from the environment' })).code).toBe(0);

    const listed = await cli(['--json', 'audit', '--since', '1h', '--limit', '2']);
    expect(listed.code).toBe(0);
    const [migrate, publish] = JSON.parse(listed.stdout) as AuditEntry[];
    expect(migrate).toMatchObject({ actor: 'default', action: 'migrate', reason: 'from the environment', outcome: 'ok' });
    expect(publish).toMatchObject({ actor: 'default', action: 'events.publish', reason: 'note from the CLI — ünïcode', outcome: 'ok', after: { streamId: key } });

    const table = await cli(['audit', '--limit', '1']);
    expect(table.stdout).toContain('migrate');
    expect(table.stdout).toContain('from the environment');
  });

  it('a read token reads the audit log but cannot change anything (exit 4, FORBIDDEN)', async () => {
    expect((await cli(['audit'], { SAGAFLOW_API_TOKEN: reader })).code).toBe(0);
    const denied = await cli(['dlq', 'discard', newId(), '--reason', 'not mine to do'], { SAGAFLOW_API_TOKEN: reader });
    expect(denied.code).toBe(4);
    expect(denied.stderr).toBe('sagaflow: token "reader" has scope read; POST /v1/dead-letters/:id/discard needs scope admin');
  });

  it('a bad --since is bad input (exit 2)', async () => {
    const bad = await cli(['audit', '--since', 'yesterday']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/since: an ISO time .* or a duration/);
  });
});
