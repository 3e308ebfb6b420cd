import type { Db, Queryable } from '../core/ports/db.js';
import type { Fence, LeaseGrant, Leases } from '../core/ports/leases.js';
import { LeaseLostError } from '../core/errors.js';
import { quoteSchema } from './identifiers.js';
import { statementName } from './statement-name.js';

/**
 * Leases in the `leases` table. Times are the database's (`now()`), so daemons on machines with skewed
 * clocks agree on expiry. Taking a lease bumps its epoch; renewing and releasing check owner and epoch.
 */
export class PostgresLeases implements Leases {
  private readonly s: string;
  private readonly fenceSql: string;
  private readonly fenceName: string;

  constructor(private readonly db: Db, options: { schema?: string } = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
    this.fenceSql = `SELECT count(*)::int AS held FROM (${this.fenceQuery('$1', '$2', '$3')}) f`;
    this.fenceName = statementName(this.fenceSql);
  }

  async acquire(names: readonly string[], owner: string, ttlMs: number, limit = names.length): Promise<LeaseGrant[]> {
    if (names.length === 0 || limit <= 0) return [];
    // Rows are created on first use; a free or expired row is taken with epoch + 1. SKIP LOCKED: a row
    // another daemon is taking right now (or a fenced write holds) is left for this round.
    await this.db.query(`INSERT INTO ${this.s}.leases (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING`, [names]);
    const { rows } = await this.db.query<{ name: string; epoch: string }>(
      `WITH free AS (
         SELECT name FROM ${this.s}.leases
         WHERE name = ANY($1::text[]) AND (owner IS NULL OR expires_at < now()) AND owner IS DISTINCT FROM $2
         ORDER BY name LIMIT $4 FOR UPDATE SKIP LOCKED
       )
       UPDATE ${this.s}.leases l SET owner = $2, epoch = l.epoch + 1, expires_at = now() + make_interval(secs => $3::double precision / 1000), updated_at = now()
       FROM free WHERE l.name = free.name
       RETURNING l.name, l.epoch`,
      [names, owner, ttlMs, limit],
    );
    return rows.map((r) => ({ name: r.name, epoch: Number(r.epoch) }));
  }

  async renew(held: readonly LeaseGrant[], owner: string, ttlMs: number): Promise<string[]> {
    if (held.length === 0) return [];
    const { rows } = await this.db.query<{ name: string }>(
      // A renewal need not wait for the WAL flush (synchronous_commit off for its own transaction): one lost
      // in a server crash only shortens the lease, and fencing keeps an early takeover safe.
      `WITH async AS (SELECT set_config('synchronous_commit', 'off', true) AS v)
       UPDATE ${this.s}.leases l SET expires_at = now() + make_interval(secs => $4::double precision / 1000), updated_at = now()
       FROM unnest($1::text[], $2::bigint[]) AS h(name, epoch), async
       WHERE l.name = h.name AND l.epoch = h.epoch AND l.owner = $3
       RETURNING l.name`,
      [held.map((h) => h.name), held.map((h) => h.epoch), owner, ttlMs],
    );
    return rows.map((r) => r.name);
  }

  async release(held: readonly LeaseGrant[], owner: string): Promise<void> {
    if (held.length === 0) return;
    await this.db.query(
      `UPDATE ${this.s}.leases l SET owner = NULL, expires_at = '-infinity', updated_at = now()
       FROM unnest($1::text[], $2::bigint[]) AS h(name, epoch)
       WHERE l.name = h.name AND l.epoch = h.epoch AND l.owner = $3`,
      [held.map((h) => h.name), held.map((h) => h.epoch), owner],
    );
  }

  async liveOwners(prefix: string): Promise<string[]> {
    const { rows } = await this.db.query<{ owner: string }>(
      `SELECT DISTINCT owner FROM ${this.s}.leases WHERE starts_with(name, $1) AND owner IS NOT NULL AND expires_at > now() ORDER BY owner`,
      [prefix],
    );
    return rows.map((r) => r.owner);
  }

  /**
   * The fence check as a query over three parameter placeholders (lease, owner, epoch): one row while the
   * lease is held at that epoch. FOR SHARE: a new owner's takeover (an UPDATE of this row) waits until the
   * fenced transaction commits, and every fenced write after the takeover sees the new epoch, so no stale
   * write can commit after a takeover. Statements that check a fence embed this (one copy of the SQL).
   * `lock: false` only looks (a read that writes nothing: no row lock, so no transaction id); `and` adds a
   * condition (a statement's lock CTE the row lock must come after).
   */
  fenceQuery(lease: string, owner: string, epoch: string, options: { lock?: boolean; and?: string } = {}): string {
    return `SELECT 1 FROM ${this.s}.leases WHERE name = ${lease} AND owner = ${owner} AND epoch = ${epoch}${options.and ?? ''}${options.lock === false ? '' : ' FOR SHARE'}`;
  }

  /** Checks `fence` inside a caller's transaction (first, before its writes); throws {@link LeaseLostError}. */
  async checkWith(q: Queryable, fence: Fence): Promise<void> {
    const { rows } = await q.query<{ held: number }>(this.fenceSql, [fence.lease, fence.owner, fence.epoch], { name: this.fenceName });
    if (rows[0]?.held !== 1) throw new LeaseLostError(fence.lease, fence.owner, fence.epoch);
  }

  /** The value of a setting every daemon must agree on: stored by the first, returned to all. */
  async agree(key: string, value: string): Promise<string> {
    const { rows } = await this.db.query<{ value: string }>(
      `WITH ins AS (INSERT INTO ${this.s}.settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING RETURNING value)
       SELECT value FROM ins UNION ALL SELECT value FROM ${this.s}.settings WHERE key = $1 LIMIT 1`,
      [key, value],
    );
    return rows[0]?.value ?? value;
  }
}
