import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineHandler } from '../../src/core/worker/define-handler.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';
import { runSourceChild } from '../support/source-child.js';
import { openTestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A command handed to a waiting in-process worker as its step commits (ADR 0018) is not in the work queue yet,
 * and the worker feed has read past it: the daemon dying before the command is answered must leave it to the
 * next daemon (the feed's checkpoint stays before it), answered once.
 */
describe.runIf(hasPostgres())('a daemon killed holding a command handed early (real subprocess, SIGKILL)', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await pgTestDb();
  });
  afterAll(() => t.dispose());

  it('the next daemon records the command, answers it once, and the order completes', async () => {
    const order = `early-${crypto.randomUUID()}`;
    const r = await runSourceChild('test/support/early-hand-off-child.ts', { SAGAFLOW_TEST_DATABASE_URL: process.env.SAGAFLOW_TEST_DATABASE_URL!, CRASH_SCHEMA: t.schema, CRASH_ORDER: order });
    expect(r.signal, r.stderr).toBe('SIGKILL');
    const seen = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { command: string; workItems: number };
    expect(seen.workItems).toBe(0); // handed before it was recorded: the path under test

    const answered: string[] = [];
    const payments = defineHandler({
      name: 'payments',
      handles: 'payment.requested',
      handle: (command) => (answered.push(command.id), { type: 'payment.succeeded', data: { orderId: String(command.data.orderId) } }),
    });
    const next = await openTestDaemon('postgres', { name: 'early-crash-next', schema: t.schema, sagas: [OrderSaga], handlers: [payments] });
    try {
      await waitFor(`order ${order} paid`, async () => (await next.daemon.engine.operator.showSaga('Order', order)).instance.state === 'paid', 20_000);
      expect(answered).toEqual([seen.command]);
      const s = quoteSchema(t.schema);
      const { rows } = await t.db.query<{ outcome: string; replies: number }>(
        `SELECT w.outcome, (SELECT count(*)::int FROM ${s}.events e WHERE e.type = 'payment.succeeded' AND e.data->>'orderId' = $2) AS replies
         FROM ${s}.work_items w WHERE w.event_id = $1`, [seen.command, order]);
      expect(rows).toEqual([{ outcome: 'completed', replies: 1 }]);
    } finally {
      await next.dispose();
    }
  });
});
