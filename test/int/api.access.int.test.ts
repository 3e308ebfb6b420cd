import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServedRoute } from '../../src/api/route-guard.js';
import { newId } from '../../src/core/ids.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';

/**
 * The route inventory: every route the daemon's server serves (its own table, so a new route is covered the
 * day it is added) against every kind of caller. No token → 401 (open routes aside); a `read` token on a
 * worker or admin route → 403; a `worker` token on an admin route → 403; an `admin` token gets through, and
 * each of its calls on a mutating route leaves one audit row (actor, action, reason, outcome) in the database.
 */

const tokens = {
  reader: `read-${newId()}`,
  worker: `work-${newId()}`,
  ops: `admin-${newId()}`,
};

/** A concrete path for a template: every `:param` filled with something well-formed that does not exist. */
const concrete = (path: string) => path.replace(/:([a-zA-Z]+)/g, (_, name: string) => (name === 'saga' ? 'Order' : name === 'name' ? 'inventory-worker' : newId()));

async function call(base: string, route: { method: string; path: string }, options: { token?: string; reason?: string; body?: unknown } = {}) {
  const post = route.method === 'POST';
  const res = await fetch(`${base}${concrete(route.path)}`, {
    method: route.method,
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.reason ? { 'x-sagaflow-reason': encodeURIComponent(options.reason) } : {}),
      ...(post ? { 'content-type': 'application/json' } : {}),
    },
    ...(post ? { body: JSON.stringify(options.body ?? {}) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text.startsWith('{') || text.startsWith('[') ? JSON.parse(text) : text) as { code?: string; message?: string } };
}

function accessSuite(store: 'pglite' | 'postgres'): void {
  describe(`route inventory: ${store}`, () => {
    let t: TestDaemon;
    let daemon: Daemon;
    let routes: readonly ServedRoute[];
    beforeAll(async () => {
      t = await openTestDaemon(store, {
        name: `access_${store}`,
        sagas: [OrderSaga],
        flags: {
          'http.tokens': [
            { name: 'reader', token: tokens.reader, scope: 'read' },
            { name: 'worker-1', token: tokens.worker, scope: 'worker' },
            { name: 'ops', token: tokens.ops, scope: 'admin' },
          ],
          'http.rateLimit.perMinute': 0,
        },
      });
      daemon = t.daemon;
      routes = daemon.api.routes;
    }, 120_000);
    afterAll(() => t.dispose());

    it('serves the routes it is expected to, each admin one audited', () => {
      // Not the list the checks below use (that is the server's own): a floor, so an empty table cannot pass.
      expect(routes.length).toBeGreaterThanOrEqual(25);
      expect(routes.filter((r) => r.access === 'open').map((r) => r.path).sort()).toEqual(['/healthz', '/readyz']);
      for (const r of routes) {
        if (r.access === 'admin') expect(r.audit, `${r.method} ${r.path}`).toBeDefined();
        if (r.method === 'POST') expect(r.access, `${r.method} ${r.path}`).not.toBe('read');
      }
      expect(routes.filter((r) => r.audit).map((r) => r.audit).sort()).toEqual(['dlq.discard', 'dlq.retry', 'events.publish', 'events.replay', 'events.retention', 'migrate', 'projection.reset', 'saga.migrate', 'saga.replay', 'saga.resume']);
    });

    it('refuses every route but the open ones without a token, or with a wrong one', async () => {
      for (const r of routes) {
        const none = await call(daemon.url, r);
        const wrong = await call(daemon.url, r, { token: 'not-a-token-0123456789' });
        if (r.access === 'open') {
          expect(none.status, `${r.method} ${r.path}`).toBe(200);
        } else {
          expect([none.status, wrong.status, none.body.code], `${r.method} ${r.path}`).toEqual([401, 401, 'UNAUTHORIZED']);
        }
      }
    });

    it('a read token reads, and gets 403 on every worker and admin route', async () => {
      for (const r of routes.filter((x) => x.access !== 'open')) {
        const res = await call(daemon.url, r, { token: tokens.reader, reason: 'inventory' });
        if (r.access === 'read') expect([401, 403], `${r.method} ${r.path}`).not.toContain(res.status);
        else expect([res.status, res.body.code], `${r.method} ${r.path}`).toEqual([403, 'FORBIDDEN']);
      }
    });

    it('a worker token reaches the worker routes and reads, and gets 403 on every admin route', async () => {
      for (const r of routes.filter((x) => x.access !== 'open')) {
        const res = await call(daemon.url, r, { token: tokens.worker, reason: 'inventory' });
        if (r.access === 'admin') expect([res.status, res.body.code], `${r.method} ${r.path}`).toEqual([403, 'FORBIDDEN']);
        else expect([401, 403], `${r.method} ${r.path}`).not.toContain(res.status);
      }
    });

    it('an admin mutating call without a reason is a 400 naming the header, and changes nothing', async () => {
      const before = (await daemon.engine.auditLog.list({ limit: 1000 })).length;
      for (const r of routes.filter((x) => x.audit)) {
        const res = await call(daemon.url, r, { token: tokens.ops });
        expect([res.status, res.body.code], `${r.method} ${r.path}`).toEqual([400, 'VALIDATION']);
        expect(res.body.message).toMatch(/a reason is required .*x-sagaflow-reason/);
      }
      expect(await daemon.engine.auditLog.list({ limit: 1000 })).toHaveLength(before);
    });

    it('an admin token gets through every route, and every mutating call leaves its audit row', async () => {
      for (const r of routes.filter((x) => x.access !== 'open')) {
        const reason = `inventory ${r.method} ${r.path} ✓`;
        const res = await call(daemon.url, r, { token: tokens.ops, reason });
        expect([401, 403, 429], `${r.method} ${r.path}`).not.toContain(res.status);
        if (!r.audit) continue;
        const [row] = await daemon.engine.auditLog.list({ limit: 1 });
        expect(row, `${r.method} ${r.path}`).toMatchObject({ actor: 'ops', action: r.audit, reason });
        // The outcome is the call's: ok, or the code it failed with (these targets do not exist).
        expect(row!.outcome).toBe(res.status < 300 ? 'ok' : res.body.code);
      }
    });

    it('records who, what, before and after of real changes, read back by GET /v1/audit', async () => {
      const key = `audit-${newId()}`;
      const published = await call(daemon.url, { method: 'POST', path: '/v1/events' }, { token: tokens.ops, reason: 'open an order', body: { type: 'order.noted', streamId: key, data: { orderId: key, poison: true } } });
      expect(published.status).toBe(201);
      let letterId: string | undefined;
      for (let i = 0; i < 100 && !letterId; i++) {
        letterId = (await daemon.engine.repository.deadLetters.list({ saga: 'Order', sagaKey: key }))[0]?.id;
        if (!letterId) await new Promise((r) => setTimeout(r, 50));
      }
      expect(letterId).toBeDefined();
      const discarded = await call(daemon.url, { method: 'POST', path: `/v1/dead-letters/${letterId}/discard` }, { token: tokens.ops, body: { reason: 'poison on purpose' } });
      expect(discarded.status).toBe(200);

      const listed = await call(daemon.url, { method: 'GET', path: '/v1/audit?limit=2' }, { token: tokens.reader });
      expect(listed.status).toBe(200);
      const [discard, publish] = listed.body as unknown as Array<Record<string, unknown>>;
      expect(discard).toMatchObject({ actor: 'ops', action: 'dlq.discard', target: `id=${letterId}`, reason: 'poison on purpose', outcome: 'ok', before: { status: 'open' }, after: { status: 'discarded', note: 'poison on purpose' } });
      expect(publish).toMatchObject({ actor: 'ops', action: 'events.publish', reason: 'open an order', outcome: 'ok', after: { type: 'order.noted', streamId: key } });
      expect(new Date(String(discard!.at)).getTime()).toBeGreaterThanOrEqual(new Date(String(publish!.at)).getTime());
    });

    it('the audit table is append-only: the database refuses UPDATE and DELETE', async () => {
      const db = daemon.database.db;
      const s = `"${store === 'pglite' ? 'sagaflow' : t.schema}"`;
      await expect(db.query(`UPDATE ${s}.audit SET reason = 'rewritten'`)).rejects.toThrow(/append-only/);
      await expect(db.query(`DELETE FROM ${s}.audit`)).rejects.toThrow(/append-only/);
      expect((await daemon.engine.auditLog.list({ limit: 1000 })).every((e) => e.reason !== 'rewritten')).toBe(true);
    });
  });
}

accessSuite('pglite');
describe.runIf(hasPostgres())('real Postgres', () => {
  accessSuite('postgres');
});
