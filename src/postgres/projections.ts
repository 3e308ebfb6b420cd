import { NotFoundError } from '../core/errors.js';
import type { Db, DbTransaction, Queryable } from '../core/ports/db.js';
import type { Fence, LeaseGrant } from '../core/ports/leases.js';
import type { ProjectionStart } from '../core/sourcing/projection.js';
import { quoteSchema } from './identifiers.js';
import type { PostgresLeases } from './leases.js';

/** Where a projection stands (`sagaflow projections status`). */
export interface ProjectionPosition {
  /** Its checkpoint (a log cursor), undefined before it first ran. */
  cursor: string | undefined;
  /** The global position of the last event it passed, when that event is still stored. */
  position: number | undefined;
  /** Events stored after its checkpoint (what it has still to read). */
  lag: number;
  /** The daemon holding its lease, when one does. */
  owner: string | undefined;
  updatedAt: string | undefined;
}

/**
 * The SQL of projections: their checkpoints (rows of `checkpoints`, named `projection:<name>`), a page of a
 * transactional projection committed with its checkpoint under its lease's fence, and the reset that takes
 * the lease from whoever runs the projection before emptying it.
 */
export class PostgresProjections {
  private readonly s: string;

  constructor(private readonly db: Db, private readonly leases: PostgresLeases, options: { schema?: string } = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
  }

  /** The quoted schema, for projections' own tables. */
  get schema(): string {
    return this.s;
  }

  async load(checkpoint: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ cursor: string }>(`SELECT cursor FROM ${this.s}.checkpoints WHERE name = $1`, [checkpoint]);
    return rows[0]?.cursor;
  }

  /** The cursor a projection starting at `start` reads after ('0.0': the beginning of the log). */
  async startCursor(start: ProjectionStart, head: () => Promise<string>): Promise<string> {
    if (start === 'beginning') return '0.0';
    if (start === 'now') return head();
    const { rows } = await this.db.query<{ tx_id: string }>(`SELECT tx_id::text FROM ${this.s}.events WHERE position = $1`, [start.position]);
    if (!rows[0]) throw new NotFoundError('stored event at position', String(start.position));
    // Just before that event in the log's order: it is the first one read.
    return `${rows[0].tx_id}.${start.position - 1}`;
  }

  /** Stores `cursor` as the checkpoint when the projection has none yet; returns the checkpoint in force. */
  async initialize(checkpoint: string, cursor: string): Promise<string> {
    const { rows } = await this.db.query<{ cursor: string }>(
      `WITH ins AS (INSERT INTO ${this.s}.checkpoints (name, cursor) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING cursor)
       SELECT cursor FROM ins UNION ALL SELECT cursor FROM ${this.s}.checkpoints WHERE name = $1 LIMIT 1`,
      [checkpoint, cursor],
    );
    return rows[0]?.cursor ?? cursor;
  }

  /**
   * Runs `apply` and saves `cursor` in one transaction that first checks `fence` (FOR SHARE: a reset or a
   * takeover waits for it to commit, and every later page sees the new epoch): the projection's writes and
   * its checkpoint commit together or not at all, and only while it holds its lease.
   */
  async commitPage(fence: Fence, checkpoint: string, cursor: string, apply: (tx: DbTransaction) => Promise<void>): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.leases.checkWith(tx, fence);
      await apply(tx);
      await this.setCursor(tx, checkpoint, cursor);
    });
  }

  /** Saves the checkpoint of an at-least-once projection (after its effects), fenced the same way. */
  async saveFenced(fence: Fence, checkpoint: string, cursor: string): Promise<void> {
    await this.commitPage(fence, checkpoint, cursor, async () => undefined);
  }

  /**
   * Resets a projection: takes its lease from any holder (waiting for a page in flight to commit; the
   * holder's next page fails its fence and it lets go), runs `empty` and sets the checkpoint to `cursor`,
   * in one transaction. With `hold`, the lease stays with `hold.owner` (a rebuild run here); otherwise it
   * is left free for the next daemon to take.
   */
  async reset(
    lease: string, checkpoint: string, cursor: string, empty: (tx: DbTransaction) => Promise<void>,
    hold?: { owner: string; ttlMs: number },
  ): Promise<LeaseGrant | undefined> {
    return this.db.transaction(async (tx) => {
      await tx.query(`INSERT INTO ${this.s}.leases (name) VALUES ($1) ON CONFLICT (name) DO NOTHING`, [lease]);
      const { rows } = await tx.query<{ epoch: string }>(
        `UPDATE ${this.s}.leases SET epoch = epoch + 1, owner = $2,
           expires_at = CASE WHEN $2::text IS NULL THEN '-infinity'::timestamptz ELSE now() + make_interval(secs => $3::double precision / 1000) END,
           updated_at = now()
         WHERE name = $1 RETURNING epoch`,
        [lease, hold?.owner ?? null, hold?.ttlMs ?? 0],
      );
      await empty(tx);
      await this.setCursor(tx, checkpoint, cursor);
      return hold ? { name: lease, epoch: Number(rows[0]!.epoch) } : undefined;
    });
  }

  /** Checkpoint, lag and owner of each named projection. */
  async positions(projections: ReadonlyArray<{ lease: string; checkpoint: string }>): Promise<ProjectionPosition[]> {
    const out: ProjectionPosition[] = [];
    for (const p of projections) {
      const { rows } = await this.db.query<{ cursor: string | null; position: string | null; lag: string; owner: string | null; updated_at: string | null }>(
        `WITH c AS (SELECT cursor, updated_at FROM ${this.s}.checkpoints WHERE name = $1),
         k AS (SELECT split_part(coalesce((SELECT cursor FROM c), '0.0'), '.', 1)::xid8 AS tx, split_part(coalesce((SELECT cursor FROM c), '0.0'), '.', 2)::bigint AS pos)
         SELECT (SELECT cursor FROM c) AS cursor,
                (SELECT to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') FROM c) AS updated_at,
                (SELECT e.position::text FROM ${this.s}.events e, k WHERE e.position = k.pos AND e.tx_id = k.tx) AS position,
                (SELECT count(*)::text FROM ${this.s}.events e, k WHERE (e.tx_id, e.position) > (k.tx, k.pos)) AS lag,
                (SELECT owner FROM ${this.s}.leases WHERE name = $2 AND owner IS NOT NULL AND expires_at > now()) AS owner`,
        [p.checkpoint, p.lease],
      );
      const r = rows[0]!;
      out.push({
        cursor: r.cursor ?? undefined, position: r.position === null ? undefined : Number(r.position), lag: Number(r.lag),
        owner: r.owner ?? undefined, updatedAt: r.updated_at ?? undefined,
      });
    }
    return out;
  }

  private async setCursor(q: Queryable, checkpoint: string, cursor: string): Promise<void> {
    await q.query(
      `INSERT INTO ${this.s}.checkpoints (name, cursor) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()`,
      [checkpoint, cursor],
    );
  }
}
