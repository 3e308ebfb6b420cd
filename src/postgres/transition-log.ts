import type { Db } from '../core/ports/db.js';
import type { SagaHistoryEntry } from '../core/ports/saga-store.js';
import type { TransitionLog, TransitionPage } from '../core/ports/transition-log.js';
import { parseCursor } from '../core/store/event-query.js';
import { readBoundSql, type AppendLock } from './append-lock.js';
import { quoteSchema } from './identifiers.js';
import { isoText } from './iso-text.js';
import { statementName } from './statement-name.js';

/** A `saga_history` row as selected by the history queries. */
export interface HistoryRow {
  seq: string | number;
  saga: string;
  key: string;
  event_id: string;
  event_type: string;
  from_state: unknown;
  to_state: unknown;
  effects: SagaHistoryEntry['effects'];
  kind: string;
  note: string | null;
  at: Date | string;
}

/** The history entry of a row. */
export function toHistoryEntry(r: HistoryRow): SagaHistoryEntry {
  const h: SagaHistoryEntry = {
    seq: Number(r.seq), saga: r.saga, key: r.key, eventId: r.event_id, eventType: r.event_type, fromState: r.from_state,
    toState: r.to_state, effects: r.effects, kind: r.kind, at: new Date(r.at).toISOString(),
  };
  if (r.note !== null) h.note = r.note;
  return h;
}

/**
 * {@link TransitionLog} over `saga_history` (migration 0009): the same two-statement gap-free read as the event
 * log (ADR 0006). Saga steps hold the store's append lock, so below the bound of statement 1 every history row
 * is final; statement 2 reads past the `(tx_id, seq)` cursor. Cursors have the event log's form `tx.seq`.
 */
export class PostgresTransitionLog implements TransitionLog {
  private readonly s: string;
  private readonly boundSql: string;
  private readonly boundName: string;

  constructor(private readonly db: Db, options: { schema?: string; appendLock: AppendLock }) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
    this.boundSql = readBoundSql(options.appendLock);
    this.boundName = statementName(this.boundSql);
  }

  /** Statement 1: below it every transaction that appends (every saga step) has ended; null on PGlite (nothing is open during a read). */
  private async bound(): Promise<string | null> {
    if (this.db.dialect === 'pglite') return null;
    return (await this.db.query<{ bound: string }>(this.boundSql, [], { name: this.boundName })).rows[0]!.bound;
  }

  async head(): Promise<string> {
    const bound = (await this.bound()) ?? (await this.db.query<{ bound: string }>(`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS bound`)).rows[0]!.bound;
    return `${BigInt(bound) - 1n}.9223372036854775807`;
  }

  async readAfter(cursor: string, limit: number): Promise<TransitionPage> {
    const after = parseCursor(cursor);
    const bound = await this.bound();
    // Rows written before migration 0009 have no tx_id: the row comparison is NULL for them, so they are not read.
    const { rows } = await this.db.query<HistoryRow & { tx_text: string }>(
      `SELECT seq, tx_id::text AS tx_text, saga, key, event_id, event_type, from_state, to_state, effects, kind, note, ${isoText('at')} AS at
       FROM ${this.s}.saga_history
       WHERE (tx_id, seq) > ($1::xid8, $2::bigint) AND ($4::xid8 IS NULL OR tx_id < $4::xid8)
       ORDER BY tx_id, seq LIMIT $3`,
      [after.txId, after.position, limit, bound],
    );
    const last = rows.at(-1);
    return { transitions: rows.map(toHistoryEntry), next: last ? `${last.tx_text}.${last.seq}` : cursor };
  }
}
