import type { EventEnvelope } from '../core/events/envelope.js';
import type { Db, Queryable } from '../core/ports/db.js';
import type { ClaimedCommand, Completion, CompletionStep, Enqueued, FailOutcome, HandedItem, RegisteredWorker, WorkItem, WorkerRegistration, WorkerState, WorkQueue } from '../core/ports/work-queue.js';
import type { PostgresDeadLetters } from './dead-letters.js';
import { E_INS_PLACES, eventColumns, storedFromPlaces, toStored, type EventPlace, type EventRow, type PostgresEventStore } from './event-store.js';
import { quoteSchema } from './identifiers.js';
import { isoText } from './iso-text.js';
import { statementName } from './statement-name.js';

/** Prefix of the notification payload that says "work items were added" (on the log's channel). */
export const WORK_NOTIFY_PREFIX = 'work:';

/** `work:<worker>,<worker>@<notifier>` (`*` for every worker when the names would not fit a notification). */
export function workNotification(workers: readonly string[], notifier: string): string {
  const names = workers.join(',');
  return `${WORK_NOTIFY_PREFIX}${names.length > 7000 ? '*' : names}@${notifier}`;
}

/** The workers and the notifier of a {@link workNotification} payload, or undefined for another payload. */
export function parseWorkNotification(payload: string): { workers: string[]; from: string } | undefined {
  if (!payload.startsWith(WORK_NOTIFY_PREFIX)) return undefined;
  const body = payload.slice(WORK_NOTIFY_PREFIX.length);
  const at = body.indexOf('@');
  return { workers: (at < 0 ? body : body.slice(0, at)).split(','), from: at < 0 ? '' : body.slice(at + 1) };
}

/** The work queue in Postgres (and PGlite): tables `workers` and `work_items` (migration 0006). */
export class PostgresWorkQueue implements WorkQueue {
  private readonly s: string;
  /** Marks a leased command done (no replies). */
  private readonly doneSql: string;
  /** Marks a leased command done and appends its replies, in one statement. */
  private readonly completeSql: string;
  /** {@link doneSql} and {@link completeSql} for a command handed before it was recorded: upserts the item. */
  private readonly earlyDoneSql: string;
  private readonly earlyCompleteSql: string;
  /** Records work items (some leased to waiting claims) and notifies the log's channel. */
  private readonly enqueueSql: string;
  /** The completion statement that also applies a saga step (parameters $1-$4, $5-$7 of an early item, then the step's). */
  private readonly withStep: (early: boolean, step: CompletionStep) => { text: string; values: unknown[]; emitted: readonly EventEnvelope[] };
  /** Prepared statement names of the hot statements: parsing and planning these CTEs cost more than running them. */
  private readonly names = new Map<string, string>();

  constructor(
    private readonly db: Db,
    private readonly store: PostgresEventStore,
    private readonly deadLetters: PostgresDeadLetters,
    private readonly options: { schema?: string; notifier?: string } = {},
  ) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
    const done = `UPDATE ${this.s}.work_items w SET outcome = 'completed', done_at = now(), lease_token = NULL
                  WHERE worker = $1 AND event_id = $2 AND lease_token = $3 AND outcome IS NULL`;
    const type = `(SELECT e.type FROM ${this.s}.events e WHERE e.event_id = w.event_id) AS type`;
    this.doneSql = `${done} RETURNING ${type}`;
    // A command handed before its work item was recorded (ADR 0018): the item is inserted completed if the
    // feed has not recorded it yet, or, if it has, completed as above (its lease token checked: the feed
    // records it with the token it was handed with, so only a lease that was lost since refuses it).
    // After $1-$3 (and $4, the replies, when there are some): position, max attempts, the worker process.
    const earlyDone = (n: number, after = '') => `INSERT INTO ${this.s}.work_items AS w (worker, event_id, position, max_attempts, attempts, leased_by, outcome, done_at)
                  SELECT $1, $2::uuid, $${n}::bigint, $${n + 1}::int, 1, $${n + 2}, 'completed', now()${after}
                  ON CONFLICT (worker, event_id) DO UPDATE SET outcome = 'completed', done_at = now(), lease_token = NULL
                  WHERE w.lease_token = $3::uuid AND w.outcome IS NULL`;
    this.earlyDoneSql = `${earlyDone(4)} RETURNING ${type}`;
    // With replies, the append lock is taken in a materialized CTE the work item's update depends on (an
    // uncorrelated subquery: evaluated before any row is written, so before the statement has a
    // transaction id; the guard turns any other order into an error), and the replies are appended only
    // when the update found the lease: every write of the statement comes after the lock (ADR 0006).
    const lock = store.appendLock;
    const withReplies = (update: string, repliesParam: string) => `WITH w_lock AS MATERIALIZED (
        SELECT pg_advisory_xact_lock_shared(${lock.classId}, ${lock.objId})::text AS l,
               1 / (CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN 1 ELSE 0 END) AS guard
      ), w_done AS (${update} RETURNING ${type}
      ), ${store.appendManyCtes(`(SELECT CASE WHEN EXISTS (SELECT 1 FROM w_done) THEN ${repliesParam}::jsonb ELSE '[]'::jsonb END)`)}
      SELECT (SELECT type FROM w_done) AS type, (SELECT count(*) FROM e_ins) AS appended`;
    this.completeSql = withReplies(`${done} AND EXISTS (SELECT 1 FROM w_lock)`, '$4');
    this.earlyCompleteSql = withReplies(earlyDone(5, ' WHERE EXISTS (SELECT 1 FROM w_lock)'), '$4');
    // The completion that also applies the reply's saga step (ADR 0020): the step's writes and its emitted
    // events depend on w_gate, which holds only when the item was completed and the step's gate held.
    this.withStep = (early, step) => {
      const values: unknown[] = [];
      const p = (v: unknown) => `$${values.push(v)}`;
      for (let i = 0; i < (early ? 7 : 4); i++) p(undefined); // $1-$4 (and $5-$7 of an early item): as above
      const parts = step.sql(p, { lock: ' AND EXISTS (SELECT 1 FROM w_lock)', gated: ' AND (SELECT ok FROM w_gate)' });
      const emitted = parts.emitted.length > 0 ? p(JSON.stringify(parts.emitted)) : undefined;
      const input = `(SELECT CASE WHEN EXISTS (SELECT 1 FROM w_done) THEN $4::jsonb${emitted ? ` || CASE WHEN (SELECT ok FROM w_gate) THEN ${emitted}::jsonb ELSE '[]'::jsonb END` : ''} ELSE '[]'::jsonb END)`;
      const update = early ? earlyDone(5, ' WHERE EXISTS (SELECT 1 FROM w_lock)') : `${done} AND EXISTS (SELECT 1 FROM w_lock)`;
      const text = `WITH w_lock AS MATERIALIZED (
          SELECT pg_advisory_xact_lock_shared(${lock.classId}, ${lock.objId})::text AS l,
                 1 / (CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN 1 ELSE 0 END) AS guard
        ), w_done AS (${update} RETURNING ${type}
        ), w_gate AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM w_done) AND ${parts.gate} AS ok
        ), ${[...parts.ctes, store.appendManyCtes(input)].join(',\n')}
        SELECT (SELECT type FROM w_done) AS type, (SELECT ok FROM w_gate) AS stepped, ${[...parts.checks, `${E_INS_PLACES} AS places`].join(', ')}`;
      return { text, values, emitted: parts.emitted };
    };
    // Work items are derived from the log, as the feed's checkpoint is: they commit without waiting for the
    // WAL flush (synchronous_commit off for this statement's transaction). A server crash can lose only items
    // whose checkpoint is lost with them (the checkpoint is saved after them, and WAL is flushed in order), so
    // the feed records them again; any commit that depends on one (a claim, a completion) flushes it first.
    this.enqueueSql = `WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS v
     ), ins AS (
       INSERT INTO ${this.s}.work_items AS w (worker, event_id, position, max_attempts, attempts, lease_token, leased_by, available_at)
       SELECT u.worker, u.event_id, u.position, u.max_attempts, CASE WHEN u.by IS NULL THEN 0 ELSE 1 END,
              CASE WHEN u.by IS NULL THEN NULL ELSE coalesce(u.token, gen_random_uuid()) END, u.by,
              CASE WHEN u.by IS NULL THEN now() ELSE clock_timestamp() + make_interval(secs => u.lease_ms::double precision / 1000) END
       FROM unnest($1::text[], $2::uuid[], $3::bigint[], $4::int[], $5::text[], $6::int[], $9::uuid[]) AS u(worker, event_id, position, max_attempts, by, lease_ms, token), async
       ON CONFLICT DO NOTHING
       RETURNING w.worker, w.event_id::text, w.lease_token::text,
                 ${isoText('w.available_at')} AS lease_until
     ), avail AS (SELECT DISTINCT worker FROM ins WHERE ins.lease_token IS NULL)
     SELECT CASE WHEN EXISTS (SELECT 1 FROM avail) THEN pg_notify($7, $8) END,
            (SELECT coalesce(json_agg(ins), '[]'::json) FROM ins WHERE ins.lease_token IS NOT NULL) AS leased,
            (SELECT coalesce(array_agg(worker), '{}') FROM avail) AS available`;
    for (const sql of [this.doneSql, this.completeSql, this.earlyDoneSql, this.earlyCompleteSql, this.enqueueSql]) this.names.set(sql, statementName(sql));
  }

  async register(worker: WorkerRegistration): Promise<void> {
    const from = await this.store.headCursor();
    await this.db.query(
      `INSERT INTO ${this.s}.workers (name, handles, from_cursor, max_attempts) VALUES ($1, $2::text[], $3, $4)
       ON CONFLICT (name) DO UPDATE SET handles = EXCLUDED.handles, max_attempts = EXCLUDED.max_attempts`,
      [worker.name, [...worker.handles], from, worker.maxAttempts],
    );
  }

  async registered(): Promise<RegisteredWorker[]> {
    const { rows } = await this.db.query<{ name: string; handles: string[]; from_cursor: string; max_attempts: number }>(
      `SELECT name, handles, from_cursor, max_attempts FROM ${this.s}.workers ORDER BY name`,
    );
    return rows.map((r) => ({ name: r.name, handles: r.handles, fromCursor: r.from_cursor, maxAttempts: r.max_attempts }));
  }

  async enqueue(items: readonly WorkItem[]): Promise<Enqueued> {
    if (items.length === 0) return { leased: [], available: [] };
    const workers = [...new Set(items.map((i) => i.worker))];
    // An item with a lease goes in as its first attempt, leased; the others wait for a claim. The
    // notification (delivered at commit, sent only when some went in unleased) wakes the workers waiting on
    // other daemons.
    const { rows } = await this.db.query<{ leased: Array<{ worker: string; event_id: string; lease_token: string; lease_until: string }>; available: string[] }>(
      this.enqueueSql,
      [
        items.map((i) => i.worker), items.map((i) => i.event.id), items.map((i) => i.event.position), items.map((i) => i.maxAttempts),
        items.map((i) => i.lease?.by ?? null), items.map((i) => i.lease?.leaseMs ?? null),
        this.store.channel, workNotification(workers, this.options.notifier ?? ''), items.map((i) => i.lease?.token ?? null),
      ],
      { name: this.names.get(this.enqueueSql) },
    );
    const row = rows[0]!;
    return { leased: row.leased.map((r) => ({ worker: r.worker, eventId: r.event_id, leaseToken: r.lease_token, leaseExpiresAt: r.lease_until })), available: row.available };
  }

  async claim(worker: string, options: { max: number; leaseMs: number; by: string }): Promise<ClaimedCommand[]> {
    const { rows } = await this.db.query<EventRow & { attempts: number; lease_token: string; lease_until: string }>(
      `WITH due AS (
         SELECT worker, event_id FROM ${this.s}.work_items
         WHERE worker = $1 AND outcome IS NULL AND available_at <= now() AND attempts < max_attempts
         ORDER BY available_at, position LIMIT $2 FOR UPDATE SKIP LOCKED
       ), leased AS (
         UPDATE ${this.s}.work_items w
         SET attempts = w.attempts + 1, lease_token = gen_random_uuid(), leased_by = $3,
             available_at = clock_timestamp() + make_interval(secs => $4::double precision / 1000)
         FROM due WHERE w.worker = due.worker AND w.event_id = due.event_id
         RETURNING w.event_id, w.attempts, w.lease_token, w.available_at
       ), seen AS (
         -- At most one write per ten seconds per worker process (an idle long-poll claims every second, and
         -- concurrent claims would queue on this row): \`status\` shows the last claim to within ten seconds.
         UPDATE ${this.s}.workers SET seen_at = now(), seen_by = $3
         WHERE name = $1 AND (seen_at IS NULL OR seen_at < now() - interval '10 seconds')
       )
       SELECT ${eventColumns}, l.attempts, l.lease_token::text AS lease_token,
              ${isoText('l.available_at')} AS lease_until
       FROM leased l JOIN ${this.s}.events e USING (event_id) ORDER BY e.position`,
      [worker, options.max, options.by, options.leaseMs],
    );
    return rows.map((r) => {
      const { position: _p, cursor: _c, ...command } = toStored(r);
      return { command, attempt: r.attempts, leaseToken: r.lease_token, leaseExpiresAt: r.lease_until };
    });
  }

  async complete(
    worker: string, eventId: string, leaseToken: string, replies: readonly EventEnvelope[], early?: HandedItem, step?: CompletionStep,
  ): Promise<Completion | undefined> {
    // The replies enter the log in the statement that marks the command done: both or neither. One
    // autocommit statement (one round trip, one commit) instead of BEGIN, UPDATE, append, COMMIT.
    const json = replies.length === 0 ? [] : [JSON.stringify(replies)];
    const record = early ? [early.event.position, early.maxAttempts, early.lease.by] : [];
    const params = [worker, eventId, leaseToken, ...json, ...record];
    if (step && replies.length > 0) {
      const built = this.withStep(early !== undefined, step);
      params.forEach((v, i) => (built.values[i] = v));
      let name = this.names.get(built.text);
      if (name === undefined) this.names.set(built.text, (name = statementName(built.text)));
      try {
        const row = (await this.db.query<{ type: string | null; stepped: boolean | null; places: EventPlace[] | null }>(built.text, built.values, { name })).rows[0];
        if (!row?.type) return undefined;
        return { type: row.type, stepped: row.stepped === true, emitted: row.stepped === true ? storedFromPlaces(built.emitted, row.places) : [] };
      } catch (err) {
        // Refused: the instance moved, the event was applied meanwhile. Nothing was written; complete without it.
        if (!step.refused(err)) throw err;
      }
    }
    const sql = early ? (replies.length === 0 ? this.earlyDoneSql : this.earlyCompleteSql) : replies.length === 0 ? this.doneSql : this.completeSql;
    const type = (await this.db.query<{ type: string | null }>(sql, params, { name: this.names.get(sql) })).rows[0]?.type ?? undefined;
    return type === undefined ? undefined : { type, stepped: false, emitted: [] };
  }

  async fail(
    worker: string, eventId: string, leaseToken: string, error: { message: string; code?: string }, options: { retryInMs: number; final?: boolean },
  ): Promise<{ outcome: FailOutcome; type?: string }> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ attempts: number; max_attempts: number; type: string }>(
        `UPDATE ${this.s}.work_items w
         SET lease_token = NULL, last_error = $4::jsonb, first_failed_at = coalesce(first_failed_at, now()),
             available_at = clock_timestamp() + make_interval(secs => $5::double precision / 1000)
         WHERE worker = $1 AND event_id = $2 AND lease_token = $3 AND outcome IS NULL
         RETURNING attempts, max_attempts, (SELECT e.type FROM ${this.s}.events e WHERE e.event_id = w.event_id) AS type`,
        [worker, eventId, leaseToken, JSON.stringify(error), options.retryInMs],
      );
      const row = rows[0];
      if (!row) return { outcome: 'lease-lost' };
      if (!options.final && row.attempts < row.max_attempts) return { outcome: 'retrying', type: row.type };
      await this.deadLetter(tx, worker, [eventId]);
      return { outcome: 'dead-lettered', type: row.type };
    });
  }

  /** Marks work items dead-lettered and parks their commands in `dead_letters`, in the caller's transaction. */
  private async deadLetter(tx: Queryable, worker: string, eventIds: readonly string[]): Promise<void> {
    const { rows } = await tx.query<EventRow & { attempts: number; last_error: { message: string; code?: string } | null; first_failed_at: string | null }>(
      `WITH dead AS (
         UPDATE ${this.s}.work_items SET outcome = 'dead-lettered', done_at = now(), lease_token = NULL
         WHERE worker = $1 AND event_id = ANY($2::uuid[]) AND outcome IS NULL
         RETURNING event_id, attempts, last_error, first_failed_at
       )
       SELECT ${eventColumns}, d.attempts, d.last_error, d.first_failed_at::text AS first_failed_at
       FROM dead d JOIN ${this.s}.events e USING (event_id)`,
      [worker, eventIds],
    );
    const now = new Date().toISOString();
    for (const r of rows) {
      const { position: _p, cursor: _c, ...event } = toStored(r);
      await this.deadLetters.addWith(tx, {
        handlerId: worker,
        event,
        error: r.last_error ?? { message: `no answer from worker "${worker}" in ${r.attempts} attempt(s): each lease ended (the worker died or timed out)`, code: 'WORK_LEASE_EXPIRED' },
        attempts: r.attempts,
        firstFailedAt: r.first_failed_at ? new Date(r.first_failed_at).toISOString() : now,
        lastFailedAt: now,
      });
    }
  }

  async sweepExhausted(): Promise<number> {
    return this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ worker: string; event_id: string }>(
        `SELECT worker, event_id::text FROM ${this.s}.work_items
         WHERE outcome IS NULL AND available_at <= now() AND attempts >= max_attempts
         LIMIT 100 FOR UPDATE SKIP LOCKED`,
      );
      const byWorker = new Map<string, string[]>();
      for (const r of rows) byWorker.set(r.worker, [...(byWorker.get(r.worker) ?? []), r.event_id]);
      for (const [worker, ids] of byWorker) await this.deadLetter(tx, worker, ids);
      return rows.length;
    });
  }

  async extend(worker: string, eventId: string, leaseToken: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `UPDATE ${this.s}.work_items SET available_at = clock_timestamp() + make_interval(secs => $4::double precision / 1000)
       WHERE worker = $1 AND event_id = $2 AND lease_token = $3 AND outcome IS NULL`,
      [worker, eventId, leaseToken, leaseMs],
    );
    return rowCount > 0;
  }

  async requeue(worker: string, eventId: string): Promise<boolean> {
    const { rowCount } = await this.db.query(
      `INSERT INTO ${this.s}.work_items (worker, event_id, position, max_attempts)
       SELECT $1, e.event_id, e.position, w.max_attempts FROM ${this.s}.events e, ${this.s}.workers w
       WHERE e.event_id = $2 AND w.name = $1
       ON CONFLICT (worker, event_id) DO UPDATE SET outcome = NULL, done_at = NULL, attempts = 0, lease_token = NULL,
         available_at = now(), last_error = NULL, first_failed_at = NULL, max_attempts = EXCLUDED.max_attempts`,
      [worker, eventId],
    );
    return rowCount > 0;
  }

  async purgeDone(olderThanMs: number): Promise<number> {
    const { rowCount } = await this.db.query(
      `DELETE FROM ${this.s}.work_items WHERE outcome IS NOT NULL AND done_at < now() - make_interval(secs => $1::double precision / 1000)`,
      [olderThanMs],
    );
    return rowCount;
  }

  async list(): Promise<WorkerState[]> {
    const { rows } = await this.db.query<{
      name: string; handles: string[]; waiting: string; in_flight: string; dead: string; seen_at: string | null; seen_by: string | null;
    }>(
      `SELECT w.name, w.handles, w.seen_by, ${isoText('w.seen_at')} AS seen_at,
         (SELECT count(*) FROM ${this.s}.work_items i WHERE i.worker = w.name AND i.outcome IS NULL
            AND (i.lease_token IS NULL OR i.available_at <= now())) AS waiting,
         (SELECT count(*) FROM ${this.s}.work_items i WHERE i.worker = w.name AND i.outcome IS NULL
            AND i.lease_token IS NOT NULL AND i.available_at > now()) AS in_flight,
         (SELECT count(*) FROM ${this.s}.dead_letters d WHERE d.handler_id = w.name AND d.status = 'open') AS dead
       FROM ${this.s}.workers w ORDER BY w.name`,
    );
    return rows.map((r) => ({
      name: r.name, handles: r.handles, waiting: Number(r.waiting), inFlight: Number(r.in_flight), deadLetters: Number(r.dead),
      seenAt: r.seen_at, seenBy: r.seen_by,
    }));
  }
}
