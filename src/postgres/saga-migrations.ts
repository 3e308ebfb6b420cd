import { systemClock, type Clock } from '../core/ports/clock.js';
import type { Db } from '../core/ports/db.js';
import type { InstanceMove, MigrationCandidate, SagaMigrationStore } from '../core/ports/saga-migrations.js';
import { quoteSchema } from './identifiers.js';

/** Options of {@link PostgresSagaMigrations}. */
export interface PostgresSagaMigrationsOptions {
  /** @default 'sagaflow' */
  schema?: string;
  /** Time of the moves (instance `updated_at`, history `at`). @default systemClock */
  clock?: Clock;
}

interface CandidateRow {
  saga: string;
  key: string;
  version: number;
  definition_version: number;
  status: MigrationCandidate['status'];
  state: unknown;
  context: Record<string, unknown>;
}

/** The history row's effects of a move: none (a migration emits nothing and touches no timer). */
const NO_EFFECTS = JSON.stringify({ emitted: [], timersScheduled: [], timersCancelled: [] });

/**
 * `SagaMigrationStore` on Postgres or PGlite. A batch of moves is one statement in one transaction: an
 * `UPDATE … FROM` the moves, matched on the revision each instance was read at (and its version still
 * `from`), whose returned rows feed the history insert — so an instance's move and its history row commit
 * together, and an instance a concurrent step changed meanwhile is simply not matched (the caller re-reads
 * and retries it). A step racing a move loses the same way (its `WHERE version = $n` finds the new revision)
 * and retries on the new version. No lease is needed: the revision is the fence.
 */
export class PostgresSagaMigrations implements SagaMigrationStore {
  private readonly s: string;
  private readonly clock: Clock;

  constructor(private readonly db: Db, options: PostgresSagaMigrationsOptions = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
    this.clock = options.clock ?? systemClock;
  }

  async candidates(saga: string, from: number, options: { after?: string; limit: number } | { keys: readonly string[] }): Promise<MigrationCandidate[]> {
    const byKeys = 'keys' in options;
    // Keyset pagination over the primary key (saga, key): each batch continues where the last one stopped.
    const { rows } = await this.db.query<CandidateRow>(
      `SELECT saga, key, version, definition_version, status, state, context FROM ${this.s}.saga_instances
       WHERE saga = $1 AND definition_version = $2 AND status NOT IN ('completed', 'compensated')
         AND ($3::jsonb IS NULL OR key IN (SELECT jsonb_array_elements_text($3::jsonb)))
         AND ($4::text IS NULL OR key > $4)
       ORDER BY key LIMIT $5`,
      [saga, from, byKeys ? JSON.stringify(options.keys) : null, byKeys ? null : (options.after ?? null), byKeys ? options.keys.length : options.limit],
    );
    return rows.map((r) => ({ saga: r.saga, key: r.key, version: r.version, definitionVersion: r.definition_version, status: r.status, state: r.state, context: r.context }));
  }

  async move(saga: string, from: number, to: number, moves: readonly InstanceMove[], note: string): Promise<string[]> {
    if (moves.length === 0) return [];
    const rows = moves.map((m) => ({
      key: m.key, expected: m.expectedVersion, from_state: m.fromState, status: m.status, state: m.state, context: m.context, snapshot: m.snapshot,
    }));
    const { rows: moved } = await this.db.query<{ key: string }>(
      `WITH m AS (
         SELECT * FROM jsonb_to_recordset($2::jsonb) AS m(key text, expected int, from_state jsonb, status text, state jsonb, context jsonb, snapshot jsonb)
       ), upd AS (
         UPDATE ${this.s}.saga_instances i
         SET version = i.version + 1, definition_version = $4, status = m.status, state = m.state, context = m.context, snapshot = m.snapshot, updated_at = $5
         FROM m WHERE i.saga = $1 AND i.key = m.key AND i.version = m.expected AND i.definition_version = $3
         RETURNING i.key, i.version, m.from_state, m.state
       ), hist AS (
         INSERT INTO ${this.s}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, note, at)
         SELECT $1, u.key, 'migrate:v' || $3::text || '-v' || $4::text || ':' || u.version::text, 'sagaflow.migrate', u.from_state, u.state, $6::jsonb, 'migrated', $7, $5
         FROM upd u RETURNING key
       )
       SELECT key FROM hist ORDER BY key`,
      [saga, JSON.stringify(rows), from, to, this.clock.now().toISOString(), NO_EFFECTS, note],
    );
    return moved.map((r) => r.key);
  }
}
