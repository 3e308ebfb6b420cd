/**
 * Projection catch-up (issue 10): a transactional projection reading the log from its start — the daemon's own
 * `ProjectionRunner` (gap-free reads, a transaction per page with the lease check and the checkpoint) — beside
 * raw `pg` doing the same work without sagaflow: a SELECT loop over the same rows, pages of 1000, in log order.
 * Two figures: a projection that writes nothing (the mechanism's cost), and one that upserts a row per event
 * (baseline: the same SELECT plus the same INSERTs in one transaction per page). Alternating passes.
 */
import pg from 'pg';
import { defineProjection } from '../src/core/sourcing/projection.js';
import { migrate } from '../src/postgres/migrate.js';
import { PgDb } from '../src/postgres/pg-db.js';
import { PostgresEventStore } from '../src/postgres/event-store.js';
import { PostgresLeases } from '../src/postgres/leases.js';
import { PostgresProjections } from '../src/postgres/projections.js';
import { projectionLease, ProjectionRunner } from '../src/runtime/projection-runner.js';
import type { BenchContext, BenchResult } from './types.js';

const PAGE = 1000;

export default async function projectionBench(ctx: BenchContext): Promise<BenchResult[]> {
  if (!ctx.databaseUrl) {
    ctx.log('Postgres not available: skipping the projection figures');
    return [];
  }
  const total = ctx.quick ? 20_000 : 100_000;
  const passes = ctx.quick ? 2 : 4;
  const pool = new pg.Pool({ connectionString: ctx.databaseUrl, max: 2, application_name: 'sagaflow-bench' });
  pool.on('error', () => {});
  const db = new PgDb(pool);
  const schema = `bench_proj_${process.pid}_${Date.now().toString(36)}`;
  const s = `"${schema}"`;
  try {
    await migrate(db, { schema });
    ctx.log(`projection: seeding ${total.toLocaleString('en-US')} events …`);
    for (let from = 1; from <= total; from += 1000) {
      await pool.query(
        `INSERT INTO ${s}.events (event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at)
         SELECT gen_random_uuid(), 'task-' || g, 1, 'task.created', 'task', jsonb_build_object('taskId', 't-' || g, 'priority', g % 5), '{}'::jsonb, now()
         FROM generate_series($1::int, $2::int) AS g`,
        [from, Math.min(total, from + 999)],
      );
    }
    await pool.query(`VACUUM ANALYZE ${s}.events`);
    await pool.query(`CREATE TABLE ${s}.proj_rows (task_id text PRIMARY KEY, n int NOT NULL)`);
    const store = new PostgresEventStore(db, { schema });
    const leases = new PostgresLeases(db, { schema });
    const projections = new PostgresProjections(db, leases, { schema });
    const upsert = `INSERT INTO ${s}.proj_rows (task_id, n) VALUES ($1, 1) ON CONFLICT (task_id) DO UPDATE SET n = proj_rows.n + 1`;

    const pass = (name: string, writes: boolean) => async () => {
      let seen = 0;
      const definition = defineProjection({
        name, handles: 'task.*',
        apply: async (event, c) => {
          seen++;
          if (writes) await c.db.query(upsert, [String(event.data.taskId)]);
        },
      });
      const grant = (await projections.reset(projectionLease(name), `projection:${name}`, '0.0', async () => {
        if (writes) await pool.query(`TRUNCATE ${s}.proj_rows`);
      }, { owner: 'bench', ttlMs: 600_000 }))!;
      const runner = new ProjectionRunner({
        definition, reader: store, head: () => store.headCursor(), checkpoints: projections, db, batchSize: PAGE,
        fence: () => ({ lease: grant.name, owner: 'bench', epoch: grant.epoch }), lost: () => undefined,
      });
      const t = performance.now();
      await runner.catchUp();
      const seconds = (performance.now() - t) / 1000;
      if (seen !== total) throw new Error(`projection saw ${seen} of ${total} events`);
      return seconds;
    };
    const raw = (writes: boolean) => async () => {
      if (writes) await pool.query(`TRUNCATE ${s}.proj_rows`);
      const client = await pool.connect();
      const t = performance.now();
      let seen = 0;
      try {
        let after = { tx: '0', pos: '0' };
        for (;;) {
          if (writes) await client.query('BEGIN');
          const { rows } = await client.query<{ tx_id: string; position: string; data: { taskId: string } }>(
            `SELECT tx_id::text, position, event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at
             FROM ${s}.events WHERE (tx_id, position) > ($1::xid8, $2::bigint) ORDER BY tx_id, position LIMIT ${PAGE}`,
            [after.tx, after.pos],
          );
          if (writes) {
            for (const r of rows) await client.query(upsert, [r.data.taskId]);
            await client.query('COMMIT');
          }
          if (rows.length === 0) break;
          seen += rows.length;
          after = { tx: rows.at(-1)!.tx_id, pos: rows.at(-1)!.position };
        }
      } finally {
        client.release();
      }
      if (seen !== total) throw new Error(`raw saw ${seen} of ${total} events`);
      return (performance.now() - t) / 1000;
    };

    const out: BenchResult[] = [];
    for (const writes of [false, true]) {
      ctx.log(`projection: catch-up passes${writes ? ' with a row per event' : ''} …`);
      let ps = 0;
      let rs = 0;
      await pass(`warm-${String(writes)}`, writes)();
      await raw(writes)();
      for (let i = 0; i < passes; i++) {
        ps += await pass(`p-${String(writes)}-${i}`, writes)();
        rs += await raw(writes)();
      }
      const value = (total * passes) / ps;
      const baseline = (total * passes) / rs;
      out.push({
        name: `projection catch-up, ${total.toLocaleString('en-US')} events${writes ? ', an upsert per event' : ', apply writes nothing'}`,
        unit: 'events/s', value, baselineName: writes ? 'raw SELECT pages + the same upserts, a transaction per page' : 'raw SELECT … ORDER BY tx_id, position LIMIT 1000',
        baseline, ratio: value / baseline, goal: 0.8,
        notes: `pages of ${PAGE}, ${passes} alternating passes each; one pass: projection ${(ps / passes).toFixed(2)} s, raw ${(rs / passes).toFixed(2)} s`,
      });
    }
    return out;
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS ${s} CASCADE`).catch(() => {});
    await pool.end();
  }
}
