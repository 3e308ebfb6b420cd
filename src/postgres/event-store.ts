import { ConcurrencyError, DuplicateEventError, ValidationError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import { patternToLike } from '../core/events/pattern.js';
import type { Db, Queryable } from '../core/ports/db.js';
import type {
  AppendOptions, AppendResult, EventQuery, EventStore, ReadAllOptions, ReadAllResult, ReadStreamOptions, Snapshot, StoredEvent,
} from '../core/ports/event-store.js';
import { checkRetriedBatch, validateBatch } from '../core/store/append-check.js';
import { normalizeQuery, parseCursor, parseExpectedVersion, parseStreamId } from '../core/store/event-query.js';
import { appendLockFor, ensureAppendLock, readBoundSql, readPageSql, type AppendLock } from './append-lock.js';
import { quoteSchema } from './identifiers.js';
import { isoText } from './iso-text.js';
import { statementName } from './statement-name.js';
import { isUniqueViolation } from './sql-errors.js';

export interface PostgresEventStoreOptions {
  /** @default 'sagaflow' */
  schema?: string;
  /**
   * Who appends through this store, sent as the payload of the commit's wake-up notification (`NOTIFY
   * <logChannel(schema)>`), so a process can ignore its own. @default a random id per store
   */
  notifier?: string;
  registry?: EventTypeRegistry;
  maxEventBytes?: number;
}

export interface EventRow {
  position: string | number;
  tx_text: string;
  event_id: string;
  stream_id: string;
  version: number;
  type: string;
  aggregate_type: string;
  data: Record<string, unknown>;
  metadata: Record<string, string>;
  /** ISO-8601 UTC text with milliseconds, formatted in SQL. */
  occurred_at: string;
}

// The text form of tx_id gets its own name: aliasing it as tx_id would make ORDER BY tx_id sort text
// ("100" < "99"), which both skips events and defeats the (tx_id, position) index.
// occurred_at is formatted by the server in the envelope's ISO form: parsing it into a Date and back
// was a measurable share of catch-up time.
export const eventColumns = `position, tx_id::text AS tx_text, event_id, stream_id, version, type, aggregate_type, data, metadata,
  ${isoText('occurred_at')} AS occurred_at`;

export function toStored(r: EventRow): StoredEvent {
  const position = Number(r.position);
  return {
    id: r.event_id,
    type: r.type,
    streamId: r.stream_id,
    aggregateType: r.aggregate_type,
    version: r.version,
    timestamp: r.occurred_at,
    data: r.data,
    metadata: r.metadata,
    position,
    cursor: `${r.tx_text}.${position}`,
  };
}

/** Where an appended event landed, as {@link E_INS_PLACES} reports it. */
export interface EventPlace {
  id: string;
  version: number;
  position: string | number;
  tx: string;
}

/** A select-list expression: the events `e_ins` inserted, as a JSON array of {@link EventPlace} (null when none). */
export const E_INS_PLACES = `(SELECT json_agg(json_build_object('id', event_id, 'version', version, 'position', position, 'tx', tx_id::text)) FROM e_ins)`;

/** The validated envelopes of an append as stored, for those it inserted (an id stored before is left out). */
export function storedFromPlaces(events: readonly EventEnvelope[], places: readonly EventPlace[] | null | undefined): StoredEvent[] {
  const byId = new Map((places ?? []).map((p) => [p.id.toLowerCase(), p]));
  const stored: StoredEvent[] = [];
  for (const e of events) {
    const p = byId.get(e.id.toLowerCase());
    if (!p) continue;
    const position = Number(p.position);
    stored.push({ ...e, version: p.version, position, cursor: `${p.tx}.${position}` });
  }
  return stored;
}

/** The `LISTEN` channel on which commits that appended to the store in `schema` notify (schema is allow-listed). */
export function logChannel(schema: string): string {
  quoteSchema(schema);
  return `sagaflow_log_${schema}`;
}

/**
 * The event store on Postgres or PGlite (same SQL through {@link Db}).
 *
 * Append is one statement: it bumps the stream row (which serialises writers of one stream and checks
 * the expected version in the same step) and inserts the batch from one JSON parameter.
 */
export class PostgresEventStore implements EventStore {
  private readonly s: string;
  private readonly appendSql: string;
  private readonly appendName: string;
  private readonly oneShotSql: string;
  private readonly oneShotName: string;
  /** Held (shared) by every transaction that appends here; the gap-free reader waits only for its holders. */
  readonly appendLock: AppendLock;
  private readonly boundSql: string;
  private readonly boundName: string;
  /** The one-statement gap-free read (`readPageSql`). */
  private readonly pageSql: string;
  private readonly pageName: string;
  private readonly manySql: string;

  /** `LISTEN` channel of this store's commits that appended (a wake-up hint: delivered at commit, never data). */
  readonly channel: string;
  /** Payload of this store's notifications. */
  readonly notifier: string;

  constructor(private readonly db: Db, private readonly options: PostgresEventStoreOptions = {}) {
    this.s = quoteSchema(options.schema ?? 'sagaflow');
    this.channel = logChannel(options.schema ?? 'sagaflow');
    // Inlined into the statement text: both are checked here to be plain identifiers / ids.
    this.notifier = options.notifier ?? crypto.randomUUID();
    if (!/^[A-Za-z0-9_.:-]{1,100}$/.test(this.notifier)) throw new ValidationError('event store options', [{ path: 'notifier', message: 'must be 1-100 letters, digits, _ . : -' }]);
    const s = this.s;
    this.appendLock = appendLockFor(options.schema ?? 'sagaflow');
    // $1 stream, $2 batch size, $3 expected version (null = any), $4 events as a JSON array, $5 their ids.
    // An existing stream is bumped only when its version equals the expected one (the row lock
    // serialises writers; READ COMMITTED re-checks the condition after waiting). A new stream is
    // created only when it may be new (any / 0). When neither happens the statement returns no rows.
    // `wake` notifies the log's channel once (materialized: not once per row); delivered at commit.
    // The one-shot statement (`append`: a transaction of its own) takes the append lock itself, in a
    // materialized CTE that both writes of the streams row depend on, so the lock is held before the
    // statement's first write (before it has a transaction id); its guard turns a violation of that order
    // into an error (division by zero when an xid was already assigned) instead of a silent gap.
    const statement = (oneShot: boolean) => {
      const lock = oneShot
        ? `lk AS MATERIALIZED (
            SELECT pg_advisory_xact_lock_shared(${this.appendLock.classId}, ${this.appendLock.objId})::text AS l,
                   1 / (CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN 1 ELSE 0 END) AS guard
          ), `
        : '';
      const locked = oneShot ? ' AND EXISTS (SELECT 1 FROM lk)' : '';
      return `
      WITH ${lock}wake AS MATERIALIZED (SELECT pg_notify('${this.channel}', '${this.notifier}') AS w
      ), upd AS (
        UPDATE ${s}.streams SET version = version + $2::int, updated_at = now()
        WHERE stream_id = $1 AND ($3::int IS NULL OR version = $3::int)
          AND NOT EXISTS (SELECT 1 FROM ${s}.events WHERE event_id = ANY($5::uuid[]))${locked}
        RETURNING version - $2::int AS before
      ), ins AS (
        INSERT INTO ${s}.streams AS st (stream_id, version)
        SELECT $1, $2::int WHERE ($3::int IS NULL OR $3::int = 0) AND NOT EXISTS (SELECT 1 FROM upd)
          AND NOT EXISTS (SELECT 1 FROM ${s}.events WHERE event_id = ANY($5::uuid[]))${locked}
        ON CONFLICT (stream_id) DO UPDATE SET version = st.version + $2::int, updated_at = now() WHERE $3::int IS NULL
        RETURNING st.version - $2::int AS before
      ), bumped AS (SELECT before FROM upd UNION ALL SELECT before FROM ins)
      INSERT INTO ${s}.events (event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at)
      SELECT (e->>'id')::uuid, $1, bumped.before + u.ord::int, e->>'type', e->>'aggregateType', e->'data', e->'metadata',
             (e->>'timestamp')::timestamptz
      FROM bumped, wake, jsonb_array_elements($4::jsonb) WITH ORDINALITY AS u(e, ord)
      ORDER BY u.ord
      RETURNING position, tx_id::text AS tx_text, version`;
    };
    this.appendSql = statement(false);
    this.oneShotSql = statement(true);
    // Single-event appends use a prepared statement: planning the CTE cost about as much as running it.
    // Batches do not: after five runs Postgres may switch a prepared statement to a generic plan, and the
    // generic plan of this CTE measured 2x slower for batches of 100.
    this.appendName = statementName(this.appendSql);
    this.oneShotName = statementName(this.oneShotSql);
    // Several streams in one statement (a batch of saga steps' emitted events): see appendManyCtes.
    this.manySql = `WITH ${this.appendManyCtes('$1')} SELECT ${E_INS_PLACES} AS places`;
    this.boundSql = readBoundSql(this.appendLock);
    this.boundName = statementName(this.boundSql);
    this.pageSql = readPageSql(this.appendLock, `${s}.events`, eventColumns);
    this.pageName = statementName(this.pageSql);
  }

  /**
   * Checks a batch without writing it: what {@link appendWith} would reject (stream id, expected version,
   * envelope, registered schema, size) is thrown here. Returns the validated batch.
   */
  validate(streamId: string, events: EventEnvelope[], options: AppendOptions = {}): EventEnvelope[] {
    parseStreamId(streamId);
    parseExpectedVersion(options.expectedVersion);
    return validateBatch(streamId, events, this.options.registry, this.options.maxEventBytes);
  }

  /**
   * Appends inside a caller's transaction (the saga step uses this to append and commit together). The
   * transaction must hold the append lock from before its first write: begin it with
   * `appendTransaction(db, store.appendLock, fn)`, or append before writing anything else (the lock is then
   * taken here); a transaction that wrote first gets an {@link AppendLockOrderError}.
   */
  async appendWith(q: Queryable, streamId: string, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.appendValidated(q, streamId, this.validate(streamId, events, options), options);
  }

  /** {@link appendWith} for a batch that already passed {@link validate} (the saga step checks before it writes). */
  async appendValidated(q: Queryable, streamId: string, batch: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    await ensureAppendLock(q, this.appendLock);
    return this.run(q, false, streamId, batch, options);
  }

  /**
   * The append of several streams' events (any expected version) as data-modifying CTEs, for a statement
   * of the caller's (`jsonParam`: the events, each with its streamId, as a jsonb parameter in append
   * order); the last CTE is `e_ins` (one row per event inserted: `event_id, version, position, tx_id`; see
   * {@link E_INS_PLACES} and {@link storedFromPlaces}). Events whose ids are stored already are
   * skipped. Stream rows are bumped in stream-id order, so two transactions lock the streams they share in
   * the same order; an event's version is its stream's old version plus its rank in the stream. `after`
   * adds a condition to the input (a statement's lock CTE its writes must come after).
   *
   * The check for stored ids is a scalar subquery, one index probe per input event, not `NOT EXISTS`: the
   * planner turns `NOT EXISTS` into an anti join, estimates 100 rows for `jsonb_array_elements`, and below
   * some 15,000 events chose a hash anti join over a sequential scan of the whole log for every step and
   * every completion (seen in `auto_explain`; the cost grew with the log).
   */
  appendManyCtes(jsonParam: string, options: { after?: string } = {}): string {
    const s = this.s;
    return `e_wake AS MATERIALIZED (SELECT pg_notify('${this.channel}', '${this.notifier}') AS w
      ), e_input AS (
        SELECT u.e, u.ord, u.e->>'streamId' AS stream_id FROM jsonb_array_elements(${jsonParam}::jsonb) WITH ORDINALITY AS u(e, ord)
        WHERE (SELECT true FROM ${s}.events x WHERE x.event_id = (u.e->>'id')::uuid) IS NULL${options.after ?? ''}
      ), e_counts AS (
        SELECT stream_id, count(*)::int AS n FROM e_input GROUP BY stream_id
      ), e_bumped AS (
        INSERT INTO ${s}.streams AS st (stream_id, version)
        SELECT stream_id, n FROM e_counts ORDER BY stream_id
        ON CONFLICT (stream_id) DO UPDATE SET version = st.version + EXCLUDED.version, updated_at = now()
        RETURNING st.stream_id, st.version AS after
      ), e_ins AS (
        INSERT INTO ${s}.events (event_id, stream_id, version, type, aggregate_type, data, metadata, occurred_at)
        SELECT (i.e->>'id')::uuid, i.stream_id, b.after - c.n + (row_number() OVER (PARTITION BY i.stream_id ORDER BY i.ord))::int,
               i.e->>'type', i.e->>'aggregateType', i.e->'data', i.e->'metadata', (i.e->>'timestamp')::timestamptz
        FROM e_input i JOIN e_counts c USING (stream_id) JOIN e_bumped b USING (stream_id), e_wake
        ORDER BY i.ord
        RETURNING event_id, version, position, tx_id
      )`;
  }

  /**
   * Appends validated events of several streams inside a caller's transaction, in one statement, with no
   * expected version (the saga steps of a batch: each step checked its events with {@link validate}
   * before writing). Events whose ids are stored already are skipped (a step decided again emits the
   * same ids). The transaction must hold the append lock (see {@link appendWith}).
   */
  async appendManyValidated(q: Queryable, events: readonly EventEnvelope[]): Promise<StoredEvent[]> {
    if (events.length === 0) return [];
    await ensureAppendLock(q, this.appendLock);
    const { rows } = await q.query<{ places: EventPlace[] | null }>(this.manySql, [JSON.stringify(events)]);
    return storedFromPlaces(events, rows[0]?.places);
  }

  /** Appends as a transaction of its own: one statement, which takes the append lock itself. */
  async append(streamId: string, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.run(this.db, true, streamId, this.validate(streamId, events, options), options);
  }

  private async run(q: Queryable, oneShot: boolean, streamId: string, batch: EventEnvelope[], options: AppendOptions): Promise<AppendResult> {
    const expected = parseExpectedVersion(options.expectedVersion);
    const expectedParam = expected === 'any' ? null : expected === 'no-stream' ? 0 : expected;
    const ids = batch.map((e) => e.id);
    const [sql, name] = oneShot ? [this.oneShotSql, this.oneShotName] : [this.appendSql, this.appendName];
    let rows: Array<{ position: string | number; tx_text: string; version: number }>;
    try {
      rows = (await q.query<{ position: string | number; tx_text: string; version: number }>(sql, [
        streamId, batch.length, expectedParam, JSON.stringify(batch), ids,
      ], batch.length === 1 ? { name } : {})).rows;
    } catch (err) {
      if (isUniqueViolation(err, 'events_event_id_key')) return this.existingBatch(q, streamId, batch);
      throw err;
    }
    if (rows.length === 0) {
      // Either a retried batch whose ids are stored, or a version conflict.
      const dup = await this.findStored(q, ids);
      if (dup.length > 0) return this.existingBatch(q, streamId, batch, dup);
      const actual = await this.versionWith(q, streamId);
      throw new ConcurrencyError(streamId, expected, actual);
    }
    // Only what the store assigned comes back; the rest is the validated batch (no second JSON parse).
    rows.sort((a, b) => a.version - b.version);
    const first = rows[0]!.version;
    const stored = rows.map((r) => {
      const position = Number(r.position);
      return { ...batch[r.version - first]!, version: r.version, position, cursor: `${r.tx_text}.${position}` } satisfies StoredEvent;
    });
    return { nextVersion: stored.at(-1)!.version, events: stored, duplicate: false };
  }

  private async findStored(q: Queryable, ids: string[]): Promise<StoredEvent[]> {
    const { rows } = await q.query<EventRow>(`SELECT ${eventColumns} FROM ${this.s}.events WHERE event_id = ANY($1::uuid[]) ORDER BY position`, [ids]);
    return rows.map(toStored);
  }

  private async existingBatch(q: Queryable, streamId: string, batch: EventEnvelope[], found?: StoredEvent[]): Promise<AppendResult> {
    const stored = found ?? (await this.findStored(q, batch.map((e) => e.id)));
    if (stored.length !== batch.length) throw new DuplicateEventError(streamId, stored.map((e) => e.id));
    checkRetriedBatch(streamId, stored, batch);
    return { nextVersion: await this.versionWith(q, streamId), events: stored, duplicate: true };
  }

  private async versionWith(q: Queryable, streamId: string): Promise<number> {
    const { rows } = await q.query<{ version: number }>(`SELECT version FROM ${this.s}.streams WHERE stream_id = $1`, [streamId]);
    return rows[0]?.version ?? 0;
  }

  streamVersion(streamId: string): Promise<number> {
    return this.versionWith(this.db, streamId);
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${eventColumns} FROM ${this.s}.events WHERE stream_id = $1 AND version >= $2 ORDER BY version LIMIT $3`,
      [streamId, options.fromVersion ?? 1, options.limit ?? null],
    );
    return rows.map(toStored);
  }

  /**
   * Gap-free catch-up read (ADR 0006): rows past the (tx_id, position) cursor, below the bound under which
   * every transaction that appends here has ended. A transaction that commits late is read after the ones
   * before it, never skipped; a transaction that does not append here (another database, another table, a
   * long read) never holds the reader back. One statement on Postgres (`readPageSql`); when a transaction
   * that ended during it cut the page short, it is read again, and after a few such reads in the two
   * statements of {@link readBounded}.
   */
  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const after = options.after === undefined ? { txId: '0', position: '0' } : parseCursor(options.after);
    const limit = options.limit ?? 1000;
    // PGlite has one connection and runs each transaction alone: while this read runs no transaction is
    // open, so every visible row is final and the bound is not needed.
    if (this.db.dialect === 'pglite') return this.page(await this.readBelow(after, limit, null), options.after);
    for (let attempt = 0; attempt < 3; attempt++) {
      const { rows } = await this.db.query<EventRow & { retry: boolean }>(this.pageSql, [after.txId, after.position, limit], { name: this.pageName });
      if (!rows[0]?.retry) return this.page(rows.filter((r) => r.event_id !== null), options.after);
    }
    return this.readBounded(after, limit, options.after);
  }

  /**
   * The read in two statements: statement 1 finds the bound (the snapshot's xmax, lowered to the oldest
   * transaction still holding the append lock); statement 2, with a later snapshot, reads below it.
   */
  private async readBounded(after: { txId: string; position: string }, limit: number, from: string | undefined): Promise<ReadAllResult> {
    const bound = (await this.db.query<{ bound: string }>(this.boundSql, [], { name: this.boundName })).rows[0]!.bound;
    return this.page(await this.readBelow(after, limit, bound), from);
  }

  private async readBelow(after: { txId: string; position: string }, limit: number, bound: string | null): Promise<EventRow[]> {
    const { rows } = await this.db.query<EventRow>(
      `SELECT ${eventColumns} FROM ${this.s}.events
       WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND ($4::xid8 IS NULL OR tx_id < $4::xid8)
       ORDER BY tx_id, position LIMIT $3`,
      [after.txId, after.position, limit, bound],
    );
    return rows;
  }

  private page(rows: EventRow[], from: string | undefined): ReadAllResult {
    const events = rows.map(toStored);
    return { events, next: events.at(-1)?.cursor ?? from };
  }

  /**
   * A cursor at the head of the log: every event committed so far is at or before it (as `readAll` orders
   * them), and every event that commits later is after it. A new follower starts here instead of reading the
   * whole history. It may stand a little before the last commits (those still ending are read again).
   */
  async headCursor(): Promise<string> {
    // Below the bound every appending transaction has ended (ADR 0006); on PGlite nothing is open during
    // this statement, so the snapshot's xmax is that bound.
    const bound = this.db.dialect === 'pglite'
      ? (await this.db.query<{ bound: string }>(`SELECT pg_snapshot_xmax(pg_current_snapshot())::text AS bound`)).rows[0]!.bound
      : (await this.db.query<{ bound: string }>(this.boundSql, [], { name: this.boundName })).rows[0]!.bound;
    return `${BigInt(bound) - 1n}.9223372036854775807`;
  }

  async query(query: EventQuery): Promise<StoredEvent[]> {
    const q = normalizeQuery(query);
    const where: string[] = [];
    const params: unknown[] = [];
    const bind = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    if (q.types && !q.types.includes('*')) {
      const ors = q.types.map((p) => {
        if (!p.includes('*')) return `type = ${bind(p)}`;
        const { like, segments } = patternToLike(p);
        return `(type LIKE ${bind(like)} ESCAPE '\\' AND array_length(string_to_array(type, '.'), 1) = ${bind(segments)})`;
      });
      where.push(`(${ors.join(' OR ')})`);
    }
    if (q.streamIds) where.push(`stream_id = ANY(${bind(q.streamIds)}::text[])`);
    if (q.aggregateType) where.push(`aggregate_type = ${bind(q.aggregateType)}`);
    if (q.from) where.push(`occurred_at >= ${bind(q.from.toISOString())}::timestamptz`);
    if (q.to) where.push(`occurred_at < ${bind(q.to.toISOString())}::timestamptz`);
    if (q.metadata) where.push(`metadata @> ${bind(JSON.stringify(q.metadata))}::jsonb`);
    // order is 'asc' | 'desc' from a zod enum: chosen from an allow-list, never copied from input text.
    const order = q.order === 'desc' ? 'DESC' : 'ASC';
    let sql = `SELECT ${q.maxBytes === undefined ? eventColumns : '*'} FROM ${this.s}.events ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY position ${order} LIMIT ${bind(q.limit)}`;
    if (q.maxBytes !== undefined) {
      // Only the rows whose running size (data and metadata as JSON text) stays within the bound leave the
      // server; the first row always does.
      sql = `SELECT ${eventColumns} FROM (
          SELECT e.*, row_number() OVER w AS rn, sum(octet_length(e.data::text) + octet_length(e.metadata::text)) OVER w AS running
          FROM (${sql}) e WINDOW w AS (ORDER BY position ${order})
        ) q WHERE q.rn = 1 OR q.running <= ${bind(q.maxBytes)} ORDER BY position ${order}`;
    }
    const { rows } = await this.db.query<EventRow>(sql, params);
    return rows.map(toStored);
  }

  async saveSnapshot<S>(streamId: string, version: number, state: S): Promise<void> {
    parseStreamId(streamId);
    await this.db.query(
      `INSERT INTO ${this.s}.snapshots (stream_id, version, state) VALUES ($1, $2, $3::jsonb)
       ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, state = EXCLUDED.state, created_at = now()
       WHERE ${this.s}.snapshots.version <= EXCLUDED.version`,
      [streamId, version, JSON.stringify(state)],
    );
  }

  async loadSnapshot<S>(streamId: string): Promise<Snapshot<S> | undefined> {
    const { rows } = await this.db.query<{ stream_id: string; version: number; state: S; created_at: Date }>(
      `SELECT stream_id, version, state, created_at FROM ${this.s}.snapshots WHERE stream_id = $1`,
      [streamId],
    );
    const r = rows[0];
    return r ? { streamId: r.stream_id, version: r.version, state: r.state, createdAt: new Date(r.created_at).toISOString() } : undefined;
  }
}
