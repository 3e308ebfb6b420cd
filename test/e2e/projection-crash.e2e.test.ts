import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { projectionLease } from '../../src/runtime/projection-runner.js';
import { pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';
import { waitFor } from '../support/wait-for.js';

/**
 * A transactional projection killed mid-page, again and again, on two daemon processes sharing one Postgres
 * schema: the daemon holding its lease is SIGKILLed while it applies pages (a page's transaction open), the
 * other takes the lease over within its TTL and goes on from the checkpoint. In the end every event is applied
 * exactly once: as many rows as events, none twice (the table has no unique key that could hide a second apply).
 * Negative control: with CRASH_DELIVERY=at-least-once (writes outside the page's transaction, checkpoint after)
 * the same run ends with duplicates (2,106 rows for 2,000 events on 2026-12-04).
 */

const child = fileURLToPath(new URL('../support/projection-child.ts', import.meta.url));
const EVENTS = 2000;
const KILLS = 6;

describe.skipIf(!hasPostgres())('projection crash (SIGKILL mid-page, two daemons)', () => {
  let t: TestDb;
  const children = new Map<string, ChildProcess>();

  const startChild = () =>
    new Promise<string>((resolve, reject) => {
      const p = spawn(process.execPath, ['--conditions=sagaflow-source', '--import', 'tsx', child], {
        env: { ...process.env, CRASH_SCHEMA: t.schema }, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let err = '';
      p.stderr!.on('data', (d: Buffer) => (err += d.toString()));
      if (process.env.CRASH_LOG) p.stdout!.on('data', (d: Buffer) => process.stderr.write(`[${p.pid}] ${d.toString()}`));
      p.stdout!.on('data', (d: Buffer) => {
        const m = /ready (\S+)/.exec(d.toString());
        if (m) {
          children.set(m[1]!, p);
          resolve(m[1]!);
        }
      });
      p.once('exit', (code) => reject(new Error(`child exited (${String(code)}) before it was ready: ${err.slice(0, 500)}`)));
    });

  beforeAll(async () => {
    t = await pgTestDb();
    const store = new PostgresEventStore(t.db, { schema: t.schema });
    for (let i = 0; i < EVENTS; i += 100) {
      await store.append(`items-${i}`, Array.from({ length: 100 }, (_, j) => createEvent({ type: 'item.added', streamId: `items-${i}`, data: { n: i + j } })));
    }
  }, 60_000);

  afterAll(async () => {
    for (const p of children.values()) p.kill('SIGKILL');
    await t?.dispose();
  });

  it(`applies each of ${EVENTS} events exactly once across ${KILLS} kills of the lease holder`, async () => {
    const s = `"${t.schema}"`;
    await Promise.all([startChild(), startChild()]);
    const rows = async () => (await t.db.query<{ n: number; distinct: number; writers: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS distinct, count(DISTINCT by)::int AS writers FROM ${s}.crash_rows`,
    )).rows[0]!;
    const holder = async () => (await t.db.query<{ owner: string }>(`SELECT owner FROM ${s}.leases WHERE name = $1 AND owner IS NOT NULL AND expires_at > now()`, [projectionLease('crash-rows')])).rows[0]?.owner;
    let kills = 0;
    while (kills < KILLS) {
      const owner = await waitFor('a holder of the projection lease', async () => {
        const o = await holder();
        return o && children.has(o) ? o : undefined;
      }, 30_000);
      const before = (await waitFor('the projection table', async () => rows().catch(() => undefined), 30_000)).n;
      if (before >= EVENTS) break;
      // Let it apply a little (a page of 40 events takes ≥ 160 ms), then kill it in the middle of a page.
      await waitFor(`progress under ${owner} (from ${before} rows)`, async () => (await rows()).n > before, 30_000);
      await new Promise((r) => setTimeout(r, 50 + Math.random() * 150));
      if ((await rows()).n >= EVENTS) break;
      children.get(owner)!.kill('SIGKILL');
      children.delete(owner);
      kills++;
      await startChild();
    }
    const done = await waitFor('every event applied', async () => {
      const r = await rows();
      return r.n >= EVENTS ? r : undefined;
    }, 120_000);
    await new Promise((r) => setTimeout(r, 500));
    expect(await rows()).toMatchObject({ n: EVENTS, distinct: EVENTS });
    expect(kills).toBeGreaterThanOrEqual(3);
    expect(done.writers).toBeGreaterThanOrEqual(2);
  }, 300_000);
});
