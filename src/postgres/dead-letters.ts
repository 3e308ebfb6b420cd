import { newId } from '../core/ids.js';
import type { Db, Queryable } from '../core/ports/db.js';
import type { DeadLetter, DeadLetterFilter, DeadLetters, NewDeadLetter } from '../core/ports/dead-letters.js';
import { quoteSchema } from './identifiers.js';

interface Row {
  id: string;
  handler_id: string;
  event: DeadLetter['event'];
  error: DeadLetter['error'];
  attempts: number;
  first_failed_at: Date;
  last_failed_at: Date;
  status: DeadLetter['status'];
  note: string | null;
  saga: string | null;
  saga_key: string | null;
}

function toLetter(r: Row): DeadLetter {
  const l: DeadLetter = {
    id: r.id,
    handlerId: r.handler_id,
    event: r.event,
    error: r.error,
    attempts: r.attempts,
    firstFailedAt: new Date(r.first_failed_at).toISOString(),
    lastFailedAt: new Date(r.last_failed_at).toISOString(),
    status: r.status,
  };
  if (r.note !== null) l.note = r.note;
  if (r.saga !== null) l.saga = r.saga;
  if (r.saga_key !== null) l.sagaKey = r.saga_key;
  return l;
}

/** Dead letters in Postgres / PGlite. */
export class PostgresDeadLetters implements DeadLetters {
  private readonly s: string;

  constructor(private readonly db: Db, options: { schema?: string } = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
  }

  /** Adds a letter inside a caller's transaction (the saga step parks poison events this way). */
  async addWith(q: Queryable, letter: NewDeadLetter): Promise<DeadLetter> {
    const { rows } = await q.query<Row>(
      `INSERT INTO ${this.s}.dead_letters
         (id, handler_id, event_id, event_type, event, error, attempts, first_failed_at, last_failed_at, saga, saga_key)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7, $8, $9, $10, $11) RETURNING *`,
      [
        newId(), letter.handlerId, letter.event.id, letter.event.type, JSON.stringify(letter.event), JSON.stringify(letter.error),
        letter.attempts, letter.firstFailedAt, letter.lastFailedAt, letter.saga ?? null, letter.sagaKey ?? null,
      ],
    );
    return toLetter(rows[0]!);
  }

  add(letter: NewDeadLetter): Promise<DeadLetter> {
    return this.addWith(this.db, letter);
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM ${this.s}.dead_letters
       WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR handler_id = $2)
         AND ($3::text IS NULL OR saga = $3) AND ($4::text IS NULL OR saga_key = $4)
       ORDER BY created_at, id LIMIT $5`,
      [filter.status ?? null, filter.handlerId ?? null, filter.saga ?? null, filter.sagaKey ?? null, Math.min(filter.limit ?? 100, 10_000)],
    );
    return rows.map(toLetter);
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
    const { rows } = await this.db.query<Row>(`SELECT * FROM ${this.s}.dead_letters WHERE id = $1`, [id]);
    return rows[0] ? toLetter(rows[0]) : undefined;
  }

  async resolve(id: string, status: 'retried' | 'discarded', note?: string): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
    const { rowCount } = await this.db.query(
      `UPDATE ${this.s}.dead_letters SET status = $2, note = $3 WHERE id = $1 AND status = 'open'`,
      [id, status, note ?? null],
    );
    return rowCount === 1;
  }
}
