import type { Db } from '../core/ports/db.js';
import type { RetentionReport, RetentionRules } from '../core/ports/retention.js';
import { quoteSchema } from './identifiers.js';

const BATCH = 5000;

/**
 * Event retention (`EVENT_STORE_RETENTION_DAYS`): removes events that occurred before the cutoff, except
 * those some reader has not passed yet (behind the slowest checkpoint: a lagging projection, a partition,
 * the relays), those applied to a saga instance that has not finished, and those of aggregate streams not
 * covered by a snapshot. The `streams` rows stay, so appends go on at the right versions.
 */
export class PostgresRetention {
  private readonly s: string;

  constructor(private readonly db: Db, options: { schema?: string } = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
  }

  /** The expired events, each with the first reason it must stay (NULL: it may go). */
  private classified(): string {
    const s = this.s;
    return `WITH horizon AS (
        SELECT name, split_part(cursor, '.', 1)::xid8 AS tx, split_part(cursor, '.', 2)::bigint AS pos
        FROM ${s}.checkpoints ORDER BY 2, 3 LIMIT 1
      ), live AS (
        SELECT i.event_id FROM ${s}.saga_instances si JOIN ${s}.saga_inbox i ON i.saga = si.saga AND i.key = si.key
        WHERE si.status NOT IN ('completed', 'compensated')
      ), expired AS (
        SELECT e.position, e.type,
          CASE
            WHEN NOT EXISTS (SELECT 1 FROM horizon h WHERE (e.tx_id, e.position) <= (h.tx, h.pos)) THEN 'unread'
            WHEN EXISTS (SELECT 1 FROM live l WHERE l.event_id = e.event_id::text) THEN 'liveSaga'
            WHEN EXISTS (SELECT 1 FROM ${s}.snapshots sn WHERE sn.stream_id = e.stream_id AND e.version > sn.version) THEN 'aggregate'
            WHEN e.aggregate_type = ANY($2::text[]) AND NOT EXISTS (SELECT 1 FROM ${s}.snapshots sn WHERE sn.stream_id = e.stream_id) THEN 'aggregate'
          END AS kept
        FROM ${s}.events e
        WHERE e.occurred_at < $1::timestamptz
      )`;
  }

  /** Counts what a pass would remove and keep (nothing changes). */
  async plan(rules: RetentionRules): Promise<Omit<RetentionReport, 'mode' | 'dryRun'>> {
    const params = [rules.cutoff.toISOString(), rules.aggregateTypes];
    const { rows } = await this.db.query<{ kept: string | null; type: string; n: string }>(
      `${this.classified()} SELECT kept, type, count(*)::text AS n FROM expired GROUP BY kept, type ORDER BY type`,
      params,
    );
    const kept = { unread: 0, liveSaga: 0, aggregate: 0 };
    const byType: Array<{ type: string; count: number }> = [];
    let expired = 0;
    for (const r of rows) {
      const n = Number(r.n);
      expired += n;
      if (r.kept === null) byType.push({ type: r.type, count: n });
      else kept[r.kept as keyof typeof kept] += n;
    }
    const slowest = kept.unread > 0
      ? (await this.db.query<{ name: string }>(`SELECT name FROM ${this.s}.checkpoints ORDER BY split_part(cursor, '.', 1)::xid8, split_part(cursor, '.', 2)::bigint LIMIT 1`)).rows[0]?.name
      : undefined;
    return {
      cutoff: rules.cutoff.toISOString(), expired, kept, removed: byType.reduce((a, t) => a + t.count, 0), byType,
      ...(slowest ? { slowestReader: slowest } : {}),
    };
  }

  /** Removes (or archives) what {@link plan} would, in batches of a few thousand events per transaction. */
  async run(rules: RetentionRules, mode: 'delete' | 'archive'): Promise<RetentionReport> {
    const report = { ...(await this.plan(rules)), mode, dryRun: false };
    const params = [rules.cutoff.toISOString(), rules.aggregateTypes];
    let removed = 0;
    for (;;) {
      const gone = `DELETE FROM ${this.s}.events WHERE position IN (SELECT position FROM expired WHERE kept IS NULL LIMIT ${BATCH}) RETURNING *`;
      const sql = mode === 'delete'
        ? `${this.classified()}, gone AS (${gone}) SELECT count(*)::int AS n FROM gone`
        : `${this.classified()}, gone AS (${gone}), moved AS (
             INSERT INTO ${this.s}.events_archive (position, tx_id, event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at, recorded_at)
             SELECT position, tx_id, event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at, recorded_at FROM gone
             RETURNING 1)
           SELECT count(*)::int AS n FROM moved`;
      const { rows } = await this.db.query<{ n: number }>(sql, params);
      const n = rows[0]?.n ?? 0;
      removed += n;
      if (n === 0) break;
    }
    return { ...report, removed };
  }
}
