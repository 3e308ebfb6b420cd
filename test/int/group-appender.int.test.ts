import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConcurrencyError } from '../../src/core/errors.js';
import { createEvent } from '../../src/core/events/envelope.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { GroupAppender } from '../../src/postgres/group-appender.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

function groupAppenderSuite(name: string, open: () => Promise<TestDb>): void {
  describe(`group-commit appender: ${name}`, () => {
    let t: TestDb;
    let store: PostgresEventStore;
    beforeAll(async () => {
      t = await open();
      store = new PostgresEventStore(t.db, { schema: t.schema });
    });
    afterAll(() => t.dispose());

    it('commits concurrent appends together and resolves each with its own stored events', async () => {
      const groups: number[] = [];
      const appender = new GroupAppender(store, t.db, { afterCommit: (n) => groups.push(n) });
      const events = Array.from({ length: 60 }, (_, i) => createEvent({ type: 'task.created', streamId: `g-${i % 7}-${t.schema}`, data: { i } }));
      const results = await Promise.all(events.map((e) => appender.append(e.streamId, [e])));
      expect(results.map((r) => r.events[0]!.id)).toEqual(events.map((e) => e.id));
      expect(groups.reduce((a, b) => a + b, 0)).toBe(60);
      expect(groups.length).toBeLessThan(60); // some commits carried several appends
      for (let s = 0; s < 7; s++) {
        const stream = await store.readStream(`g-${s}-${t.schema}`);
        expect(stream.map((e) => e.version)).toEqual(stream.map((_, i) => i + 1));
      }
      const stored = await store.query({ streamIds: Array.from({ length: 7 }, (_, s) => `g-${s}-${t.schema}`), limit: 100 });
      expect(stored.map((e) => e.id).sort()).toEqual(events.map((e) => e.id).sort());
    });

    it('a bad append in a group is rejected alone; a retried one is a duplicate; the others commit', async () => {
      const appender = new GroupAppender(store, t.db);
      const stream = `bad-${crypto.randomUUID()}`;
      const first = createEvent({ type: 'task.created', streamId: stream, data: {} });
      await appender.append(stream, [first]);
      const good = Array.from({ length: 5 }, () => createEvent({ type: 'task.created', streamId: `ok-${crypto.randomUUID()}`, data: {} }));
      const settled = await Promise.allSettled([
        ...good.map((e) => appender.append(e.streamId, [e])),
        appender.append(stream, [createEvent({ type: 'task.updated', streamId: stream, data: {} })], { expectedVersion: 5 }),
        appender.append(stream, [first]),
      ]);
      expect(settled.slice(0, 5).map((s) => s.status)).toEqual(Array(5).fill('fulfilled'));
      const conflict = settled[5]!;
      expect(conflict.status === 'rejected' && conflict.reason).toBeInstanceOf(ConcurrencyError);
      expect(settled[6]).toMatchObject({ status: 'fulfilled', value: { duplicate: true } });
      for (const e of good) expect((await store.readStream(e.streamId)).map((x) => x.id)).toEqual([e.id]);
      expect(await store.streamVersion(stream)).toBe(1);
    });

    it('rejects an invalid append at once, before it joins a group', async () => {
      const appender = new GroupAppender(store, t.db);
      await expect(appender.append('', [createEvent({ type: 'task.created', data: {} })])).rejects.toMatchObject({ code: 'VALIDATION' });
    });
  });
}

groupAppenderSuite('PGlite', pgliteTestDb);

describe.runIf(hasPostgres())('real Postgres', () => {
  groupAppenderSuite('Postgres', () => pgTestDb({ max: 8 }));

  /** Runs the publisher child until it exits or `killAfterMs` passed; returns the ids it said were resolved. */
  function runChild(env: Record<string, string>, killAfterMs: number): Promise<{ signal: NodeJS.Signals | null; resolved: string[]; stderr: string }> {
    return new Promise((resolve, reject) => {
      const p = spawn(process.execPath, ['--conditions=sagaflow-source', '--import', 'tsx', 'test/support/group-append-child.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let stderr = '';
      let timer: NodeJS.Timeout | undefined;
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (timer === undefined && out.includes('ready\n')) timer = setTimeout(() => p.kill('SIGKILL'), killAfterMs);
      });
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const guard = setTimeout(() => p.kill('SIGKILL'), 60_000);
      p.on('error', reject);
      p.on('exit', (_code, signal) => {
        clearTimeout(timer);
        clearTimeout(guard);
        const resolved = out.split('\n').filter((l) => l.startsWith('resolved ')).map((l) => l.slice('resolved '.length));
        resolve({ signal, resolved, stderr });
      });
    });
  }

  describe('crashes (a real child process, SIGKILL)', () => {
    let t: TestDb;
    beforeAll(async () => {
      t = await pgTestDb();
    });
    afterAll(() => t.dispose());

    const storedIds = async (ids: string[]) => {
      const { rows } = await t.db.query<{ id: string }>(`SELECT event_id::text AS id FROM "${t.schema}".events WHERE event_id = ANY($1::uuid[])`, [ids]);
      return new Set(rows.map((r) => r.id));
    };

    it('killed after a group committed and before its callers resolved: the group is stored, nothing was resolved early', async () => {
      const r = await runChild({ SAGAFLOW_TEST_DATABASE_URL: process.env.SAGAFLOW_TEST_DATABASE_URL!, CRASH_SCHEMA: t.schema, CRASH_AT: 'after-commit' }, 20_000);
      expect(r.signal, r.stderr).toBe('SIGKILL');
      const stored = await storedIds(r.resolved);
      expect(r.resolved.filter((id) => !stored.has(id))).toEqual([]);
      // The group that committed is in the log although none of its callers heard back: at most one
      // append per publisher (32) is stored without having been resolved.
      const { rows } = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${t.schema}".events`);
      expect(rows[0]!.n - r.resolved.length).toBeGreaterThan(1);
      expect(rows[0]!.n - r.resolved.length).toBeLessThanOrEqual(32);
    });

    it('killed at random instants: every append a caller was told about is stored', async () => {
      for (const ms of [150, 400, 900]) {
        const r = await runChild({ SAGAFLOW_TEST_DATABASE_URL: process.env.SAGAFLOW_TEST_DATABASE_URL!, CRASH_SCHEMA: t.schema }, ms);
        expect(r.signal, r.stderr).toBe('SIGKILL');
        expect(r.resolved.length, r.stderr).toBeGreaterThan(0);
        const stored = await storedIds(r.resolved);
        expect(r.resolved.filter((id) => !stored.has(id))).toEqual([]);
      }
    });
  });
});
