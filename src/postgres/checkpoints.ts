import type { CheckpointStore } from '../core/bus/checkpoints.js';
import type { Db } from '../core/ports/db.js';
import type { Fence } from '../core/ports/leases.js';
import { quoteSchema } from './identifiers.js';

/** A cursor `<tx_id>.<position>` as a comparable row in SQL. */
const cursorRow = (c: string) => `(split_part(${c}, '.', 1)::xid8, split_part(${c}, '.', 2)::bigint)`;

/**
 * Named reader cursors in the `checkpoints` table: a reader resumes where it stopped after a restart.
 * A checkpoint only moves forward (a save behind the stored cursor changes nothing), and a fenced save
 * is written only while its lease is still held at its epoch.
 */
export class PostgresCheckpoints implements CheckpointStore {
  private readonly s: string;

  constructor(private readonly db: Db, options: { schema?: string } = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
  }

  async load(name: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ cursor: string }>(`SELECT cursor FROM ${this.s}.checkpoints WHERE name = $1`, [name]);
    return rows[0]?.cursor;
  }

  async loadMany(names: readonly string[]): Promise<Map<string, string>> {
    const { rows } = await this.db.query<{ name: string; cursor: string }>(`SELECT name, cursor FROM ${this.s}.checkpoints WHERE name = ANY($1::text[])`, [names]);
    return new Map(rows.map((r) => [r.name, r.cursor]));
  }

  async save(name: string, cursor: string): Promise<void> {
    await this.saveFenced([{ name, cursor }]);
  }

  /**
   * Saves several cursors in one statement, each only forward and, when it has a fence, only while that
   * lease is held at its epoch. Returns the names whose fence failed (the caller lost those leases).
   *
   * The statement commits with `synchronous_commit = off` (set for its own transaction): it does not wait
   * for the WAL flush. A checkpoint lost in a server crash only makes its reader deliver some events again,
   * which at-least-once readers accept (the saga inbox, consumers' dedupe by id); every commit of events
   * and steps stays synchronous.
   */
  async saveFenced(entries: ReadonlyArray<{ name: string; cursor: string; fence?: Fence }>): Promise<string[]> {
    if (entries.length === 0) return [];
    const { rows } = await this.db.query<{ name: string; held: boolean }>(
      `WITH async AS (SELECT set_config('synchronous_commit', 'off', true) AS v
       ), e AS (
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[]) AS e(name, cursor, lease, owner, epoch)
       ), ok AS (
         SELECT e.name, e.cursor, (e.lease IS NULL OR EXISTS (
           SELECT 1 FROM ${this.s}.leases l WHERE l.name = e.lease AND l.owner = e.owner AND l.epoch = e.epoch)) AS held
         FROM e, async
       ), saved AS (
         INSERT INTO ${this.s}.checkpoints AS c (name, cursor) SELECT name, cursor FROM ok WHERE held
         ON CONFLICT (name) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()
         WHERE ${cursorRow('c.cursor')} < ${cursorRow('EXCLUDED.cursor')}
         RETURNING 1
       )
       SELECT name, held FROM ok`,
      [
        entries.map((e) => e.name), entries.map((e) => e.cursor), entries.map((e) => e.fence?.lease ?? null),
        entries.map((e) => e.fence?.owner ?? null), entries.map((e) => e.fence?.epoch ?? null),
      ],
    );
    return rows.filter((r) => !r.held).map((r) => r.name);
  }
}
