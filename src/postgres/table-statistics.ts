import type { Db } from '../core/ports/db.js';
import { quoteSchema } from './identifiers.js';

/**
 * The planner's statistics of the schema's tables, kept current where no autovacuum does (ADR 0019): on a
 * server that runs without it, and on PGlite (one backend, no autovacuum). The hot statements are prepared,
 * and a prepared statement's generic plan is made from the statistics of its sixth run: made while a table
 * is small, it scans the whole table (`Seq Scan on events` in an append's check for stored ids), and it is
 * planned again only when the table's statistics change. Without them, every append read every event.
 */
export class PostgresTableStatistics {
  private readonly schema: string;
  /** The tables that grew by a fifth (and to 8 pages at least) since their statistics, `schema.table` quoted. */
  private readonly staleSql: string;

  constructor(private readonly db: Db, options: { schema?: string } = {}) {
    this.schema = options.schema ?? 'sagaflow';
    quoteSchema(this.schema); // the name's check
    this.staleSql = `SELECT format('%I.%I', n.nspname, c.relname) AS target, c.relname AS name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = $1 AND c.relkind = 'r'
        AND pg_relation_size(c.oid) / current_setting('block_size')::int >= greatest(8, c.relpages * 1.2)
        AND NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE backend_type = 'autovacuum launcher')
      ORDER BY c.relname`;
  }

  /**
   * Analyzes the tables that grew by a fifth since their statistics were taken (or were never analyzed and
   * hold 8 pages), unless an autovacuum launcher runs on the server (then it does this); their names.
   */
  async refresh(): Promise<string[]> {
    const { rows } = await this.db.query<{ target: string; name: string }>(this.staleSql, [this.schema]);
    for (const r of rows) await this.db.query(`ANALYZE ${r.target}`);
    return rows.map((r) => r.name);
  }
}
