import { newId } from '../core/ids.js';
import type { Db, Queryable } from '../core/ports/db.js';
import type { AuditEntry, AuditFilter, AuditLog, NewAuditEntry } from '../core/ports/audit-log.js';
import { quoteSchema } from './identifiers.js';

interface Row {
  id: string;
  at: Date | string;
  actor: string;
  action: string;
  target: string;
  reason: string;
  outcome: string;
  before: unknown;
  after: unknown;
}

function toEntry(r: Row): AuditEntry {
  const e: AuditEntry = { id: r.id, at: new Date(r.at).toISOString(), actor: r.actor, action: r.action, target: r.target, reason: r.reason, outcome: r.outcome };
  if (r.before !== null) e.before = r.before;
  if (r.after !== null) e.after = r.after;
  return e;
}

/** The audit log in Postgres / PGlite (table `audit`, append-only by trigger: migration 0008). */
export class PostgresAuditLog implements AuditLog {
  private readonly s: string;

  constructor(private readonly db: Db, options: { schema?: string } = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
  }

  /** Records inside a caller's transaction, so the row commits (or not) with the change it describes. */
  async recordWith(q: Queryable, entry: NewAuditEntry): Promise<AuditEntry> {
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    const { rows } = await q.query<Row>(
      `INSERT INTO ${this.s}.audit (id, at, actor, action, target, reason, outcome, before, after)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb) RETURNING *`,
      [newId(), entry.at ?? new Date().toISOString(), entry.actor, entry.action, entry.target, entry.reason, entry.outcome, json(entry.before), json(entry.after)],
    );
    return toEntry(rows[0]!);
  }

  record(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.recordWith(this.db, entry);
  }

  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const { rows } = await this.db.query<Row>(
      `SELECT * FROM ${this.s}.audit WHERE ($1::timestamptz IS NULL OR at >= $1) ORDER BY at DESC, id DESC LIMIT $2`,
      [filter.since ?? null, Math.min(filter.limit ?? 100, 10_000)],
    );
    return rows.map(toEntry);
  }
}
