import { ConcurrencyError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { Db, Queryable } from '../core/ports/db.js';
import type { SagaRepository, SagaStepRead, SagaStepTx, SagaStepWrite } from '../core/ports/saga-repository.js';
import type { OutboxEntry, SagaHistoryEntry, SagaInstance, SagaListFilter, TimerEntry } from '../core/ports/saga-store.js';
import { PostgresDeadLetters } from './dead-letters.js';
import { quoteSchema } from './identifiers.js';
import { isUniqueViolation } from './sql-errors.js';

/** Options of {@link PostgresSagaRepository}. */
export interface PostgresSagaRepositoryOptions {
  /** @default 'sagaflow' */
  schema?: string;
  /** Timestamps of rows (created, updated, history, sent). @default systemClock */
  clock?: Clock;
}

interface InstanceRow {
  saga: string;
  key: string;
  version: number;
  definition_version: number;
  status: SagaInstance['status'];
  state: unknown;
  context: Record<string, unknown>;
  snapshot: unknown;
  created_at: Date | string;
  updated_at: Date | string;
}
interface TimerRow { saga: string; key: string; timer_id: string; event: TimerEntry['event']; due_at: Date | string }
interface OutboxRow {
  id: string; saga: string; key: string; event: EventEnvelope; created_at: Date | string; sent_at: Date | string | null; attempts: number; last_error: string | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

function toInstance(r: InstanceRow): SagaInstance {
  return {
    saga: r.saga, key: r.key, version: r.version, definitionVersion: r.definition_version, status: r.status, state: r.state,
    context: r.context, snapshot: r.snapshot, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at),
  };
}
const toTimer = (r: TimerRow): TimerEntry => ({ id: r.timer_id, saga: r.saga, key: r.key, event: r.event, dueAt: iso(r.due_at) });
function toOutbox(r: OutboxRow): OutboxEntry {
  const e: OutboxEntry = { id: r.id, saga: r.saga, key: r.key, event: r.event, createdAt: iso(r.created_at), attempts: r.attempts };
  if (r.sent_at !== null) e.sentAt = iso(r.sent_at);
  if (r.last_error !== null) e.lastError = r.last_error;
  return e;
}

/**
 * Saga storage on Postgres or PGlite (same SQL through {@link Db}). A step is one transaction of two
 * round trips besides BEGIN/COMMIT: one read (instance + inbox check) and one write statement whose CTEs
 * insert the inbox row, insert or version-check-update the instance, and write history, outbox and timers.
 */
export class PostgresSagaRepository implements SagaRepository {
  readonly deadLetters: PostgresDeadLetters;
  private readonly s: string;
  private readonly clock: Clock;
  private readonly readSql: string;
  private readonly writeSql: string;

  constructor(private readonly db: Db, options: PostgresSagaRepositoryOptions = {}) {
    const schema = options.schema ?? 'sagaflow';
    this.s = quoteSchema(schema);
    this.clock = options.clock ?? systemClock;
    this.deadLetters = new PostgresDeadLetters(db, { schema });
    const s = this.s;
    this.readSql = `
      SELECT i.*, EXISTS (SELECT 1 FROM ${s}.saga_inbox WHERE saga = $1 AND key = $2 AND event_id = $3) AS seen
      FROM (SELECT 1) AS one LEFT JOIN ${s}.saga_instances i ON i.saga = $1 AND i.key = $2`;
    // $1 saga, $2 key, $3 event id, $4 inbox?, $5 now, $6 instance json | null, $7 history json | null,
    // $8 outbox json array, $9 timers json array, $10 cancelled timer ids json array, $11 event type.
    // Every CTE runs; the caller checks `instance_rows` and rolls back on a lost race.
    this.writeSql = `
      WITH inbox AS (
        INSERT INTO ${s}.saga_inbox (saga, key, event_id) SELECT $1, $2, $3 WHERE $4::boolean RETURNING 1
      ), ins AS (
        INSERT INTO ${s}.saga_instances (saga, key, version, definition_version, status, state, context, snapshot, created_at, updated_at)
        SELECT $1, $2, 1, (j->>'definitionVersion')::int, j->>'status', j->'state', j->'context', j->'snapshot', $5, $5
        FROM (SELECT $6::jsonb AS j) p WHERE j IS NOT NULL AND (j->>'create')::boolean
        RETURNING 1
      ), upd AS (
        UPDATE ${s}.saga_instances i SET version = i.version + 1, status = p.j->>'status', state = p.j->'state',
          context = p.j->'context', snapshot = p.j->'snapshot', updated_at = $5
        FROM (SELECT $6::jsonb AS j) p
        WHERE p.j IS NOT NULL AND NOT (p.j->>'create')::boolean AND i.saga = $1 AND i.key = $2 AND i.version = (p.j->>'expectedVersion')::int
        RETURNING 1
      ), hist AS (
        INSERT INTO ${s}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, note, at)
        SELECT $1, $2, $3, $11, h->'fromState', h->'toState', h->'effects', h->>'kind', h->>'note', $5
        FROM (SELECT $7::jsonb AS h) p WHERE h IS NOT NULL
        RETURNING 1
      ), ob AS (
        INSERT INTO ${s}.outbox (id, saga, key, event, created_at)
        SELECT (e->>'id')::uuid, $1, $2, e, $5 FROM jsonb_array_elements($8::jsonb) e
        RETURNING 1
      ), tdel AS (
        DELETE FROM ${s}.timers WHERE saga = $1 AND key = $2 AND timer_id IN (SELECT jsonb_array_elements_text($10::jsonb))
        RETURNING 1
      ), tup AS (
        INSERT INTO ${s}.timers (saga, key, timer_id, event, due_at)
        SELECT $1, $2, t->>'id', t->'event', (t->>'dueAt')::timestamptz FROM jsonb_array_elements($9::jsonb) t
        ON CONFLICT (saga, key, timer_id) DO UPDATE SET event = EXCLUDED.event, due_at = EXCLUDED.due_at, created_at = now()
        RETURNING 1
      )
      SELECT (SELECT count(*) FROM ins)::int + (SELECT count(*) FROM upd)::int AS instance_rows,
             (SELECT count(*) FROM inbox)::int + (SELECT count(*) FROM hist)::int + (SELECT count(*) FROM ob)::int
             + (SELECT count(*) FROM tdel)::int + (SELECT count(*) FROM tup)::int AS other_rows`;
  }

  step<T>(fn: (tx: SagaStepTx) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(this.txFor(tx)));
  }

  private txFor(q: Queryable): SagaStepTx {
    return {
      read: async (saga, key, eventId): Promise<SagaStepRead> => {
        const { rows } = await q.query<InstanceRow & { seen: boolean }>(this.readSql, [saga, key, eventId]);
        const r = rows[0]!;
        return { instance: r.saga === null || r.saga === undefined ? undefined : toInstance(r), seen: r.seen };
      },
      claimTimer: async (timer) => {
        // SKIP LOCKED: a timer another worker is firing right now is left to it; its commit deletes the row.
        const { rows } = await q.query(
          `WITH c AS (
             SELECT saga, key, timer_id FROM ${this.s}.timers
             WHERE saga = $1 AND key = $2 AND timer_id = $3 AND due_at = $4::timestamptz FOR UPDATE SKIP LOCKED
           ) DELETE FROM ${this.s}.timers t USING c WHERE t.saga = c.saga AND t.key = c.key AND t.timer_id = c.timer_id RETURNING 1`,
          [timer.saga, timer.key, timer.id, timer.dueAt],
        );
        return rows.length === 1;
      },
      write: (w) => this.write(q, w),
    };
  }

  private async write(q: Queryable, w: SagaStepWrite): Promise<void> {
    const now = this.clock.now().toISOString();
    const inst = w.instance;
    let res;
    try {
      res = await q.query<{ instance_rows: number }>(this.writeSql, [
        w.saga, w.key, w.event.id, w.inbox !== false, now,
        inst ? JSON.stringify(inst) : null,
        w.history ? JSON.stringify(w.history) : null,
        JSON.stringify(w.outbox ?? []),
        JSON.stringify(w.timers ?? []),
        JSON.stringify(w.cancelledTimers ?? []),
        w.event.type,
      ]);
    } catch (err) {
      // The inbox row or the instance row was inserted by a concurrent step: lost the race, retry the step.
      if (isUniqueViolation(err, 'saga_inbox_pkey') || isUniqueViolation(err, 'saga_instances_pkey')) {
        throw new ConcurrencyError(`saga:${w.saga}/${w.key}`, inst?.expectedVersion ?? 0, -1, { cause: err });
      }
      throw err;
    }
    if (inst && res.rows[0]!.instance_rows !== 1) throw new ConcurrencyError(`saga:${w.saga}/${w.key}`, inst.expectedVersion, -1);
    if (w.deadLetter) await this.deadLetters.addWith(q, w.deadLetter);
    if (w.park) {
      await q.query(
        `INSERT INTO ${this.s}.saga_parked (saga, key, event_id, event, parked_at) VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING`,
        [w.saga, w.key, w.event.id, JSON.stringify(w.event), now],
      );
    }
    if (w.unpark) await q.query(`DELETE FROM ${this.s}.saga_parked WHERE saga = $1 AND key = $2 AND event_id = $3`, [w.saga, w.key, w.event.id]);
  }

  async dueTimers(now: Date, limit: number, sagas?: readonly string[]): Promise<TimerEntry[]> {
    const { rows } = await this.db.query<TimerRow>(
      `SELECT * FROM ${this.s}.timers
       WHERE due_at <= $1 AND ($2::jsonb IS NULL OR saga IN (SELECT jsonb_array_elements_text($2::jsonb)))
       ORDER BY due_at, saga, key, timer_id LIMIT $3`,
      [now.toISOString(), sagas ? JSON.stringify(sagas) : null, Math.min(limit, 10_000)],
    );
    return rows.map(toTimer);
  }

  async relayOutbox(limit: number, publish: (entries: OutboxEntry[]) => Promise<void>): Promise<number> {
    let claimed: OutboxEntry[] = [];
    try {
      return await this.db.transaction(async (tx) => {
        // FOR UPDATE SKIP LOCKED: relays in several processes take disjoint batches; the row locks are held
        // while publishing, so a row is marked sent only by the relay that published it.
        const { rows } = await tx.query<OutboxRow>(
          `SELECT * FROM ${this.s}.outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
          [Math.min(limit, 10_000)],
        );
        if (rows.length === 0) return 0;
        claimed = rows.map(toOutbox);
        await publish(claimed);
        await tx.query(
          `UPDATE ${this.s}.outbox SET sent_at = $2, attempts = attempts + 1
           WHERE id IN (SELECT (jsonb_array_elements_text($1::jsonb))::uuid)`,
          [JSON.stringify(claimed.map((e) => e.id)), this.clock.now().toISOString()],
        );
        return rows.length;
      });
    } catch (err) {
      if (claimed.length > 0) {
        await this.db
          .query(
            `UPDATE ${this.s}.outbox SET attempts = attempts + 1, last_error = $2
             WHERE id IN (SELECT (jsonb_array_elements_text($1::jsonb))::uuid) AND sent_at IS NULL`,
            [JSON.stringify(claimed.map((e) => e.id)), (err instanceof Error ? err.message : String(err)).slice(0, 2000)],
          )
          .catch(() => undefined);
      }
      throw err;
    }
  }

  async parked(saga: string, key: string): Promise<EventEnvelope[]> {
    const { rows } = await this.db.query<{ event: EventEnvelope }>(
      `SELECT event FROM ${this.s}.saga_parked WHERE saga = $1 AND key = $2 ORDER BY parked_at, event_id`,
      [saga, key],
    );
    return rows.map((r) => r.event);
  }

  async list(filter: SagaListFilter = {}): Promise<SagaInstance[]> {
    const cutoff = filter.stuckForMs === undefined ? null : new Date(this.clock.now().getTime() - filter.stuckForMs).toISOString();
    const { rows } = await this.db.query<InstanceRow>(
      `SELECT * FROM ${this.s}.saga_instances
       WHERE ($1::text IS NULL OR saga = $1) AND ($2::text IS NULL OR status = $2)
         AND ($3::timestamptz IS NULL OR (status IN ('running', 'compensating') AND updated_at < $3))
       ORDER BY created_at, key LIMIT $4`,
      [filter.saga ?? null, filter.status ?? null, cutoff, Math.min(filter.limit ?? 100, 10_000)],
    );
    return rows.map(toInstance);
  }

  async get(saga: string, key: string): Promise<SagaInstance | undefined> {
    const { rows } = await this.db.query<InstanceRow>(`SELECT * FROM ${this.s}.saga_instances WHERE saga = $1 AND key = $2`, [saga, key]);
    return rows[0] ? toInstance(rows[0]) : undefined;
  }

  async history(saga: string, key: string, options: { limit?: number } = {}): Promise<SagaHistoryEntry[]> {
    const { rows } = await this.db.query<{
      seq: string | number; saga: string; key: string; event_id: string; event_type: string; from_state: unknown; to_state: unknown;
      effects: SagaHistoryEntry['effects']; kind: string; note: string | null; at: Date | string;
    }>(`SELECT * FROM ${this.s}.saga_history WHERE saga = $1 AND key = $2 ORDER BY seq LIMIT $3`, [saga, key, Math.min(options.limit ?? 1000, 10_000)]);
    return rows.map((r) => {
      const h: SagaHistoryEntry = {
        seq: Number(r.seq), saga: r.saga, key: r.key, eventId: r.event_id, eventType: r.event_type, fromState: r.from_state,
        toState: r.to_state, effects: r.effects, kind: r.kind, at: iso(r.at),
      };
      if (r.note !== null) h.note = r.note;
      return h;
    });
  }

  async timers(saga: string, key: string): Promise<TimerEntry[]> {
    const { rows } = await this.db.query<TimerRow>(`SELECT * FROM ${this.s}.timers WHERE saga = $1 AND key = $2 ORDER BY due_at, timer_id`, [saga, key]);
    return rows.map(toTimer);
  }

  async outbox(saga: string, key: string, options: { unsentOnly?: boolean } = {}): Promise<OutboxEntry[]> {
    const { rows } = await this.db.query<OutboxRow>(
      `SELECT * FROM ${this.s}.outbox WHERE saga = $1 AND key = $2 AND (NOT $3::boolean OR sent_at IS NULL) ORDER BY seq`,
      [saga, key, options.unsentOnly ?? false],
    );
    return rows.map(toOutbox);
  }
}
