import type { CheckpointStore } from '../core/bus/checkpoints.js';
import type { Db } from '../core/ports/db.js';
import { quoteSchema } from './identifiers.js';

/** Named reader cursors in the `checkpoints` table: the relay resumes where it stopped after a restart. */
export class PostgresCheckpoints implements CheckpointStore {
  private readonly s: string;

  constructor(private readonly db: Db, options: { schema?: string } = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
  }

  async load(name: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ cursor: string }>(`SELECT cursor FROM ${this.s}.checkpoints WHERE name = $1`, [name]);
    return rows[0]?.cursor;
  }

  async save(name: string, cursor: string): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.checkpoints (name, cursor) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET cursor = EXCLUDED.cursor, updated_at = now()`,
      [name, cursor],
    );
  }
}
