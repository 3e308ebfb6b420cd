import { ConcurrencyError, LeaseLostError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { Db, Queryable } from '../core/ports/db.js';
import type { CompletionStep } from '../core/ports/work-queue.js';
import type { CompletionStepGate, SagaBatchRead, SagaBatchTx, SagaRepository, SagaStepRead, SagaStepTx, SagaStepWrite } from '../core/ports/saga-repository.js';
import type { SagaHistoryEntry, SagaInstance, SagaListFilter, SagaStatus, SagaVersionCount, TimerEntry } from '../core/ports/saga-store.js';
import { appendTransaction, ensureAppendLock } from './append-lock.js';
import { E_INS_PLACES, PostgresEventStore, storedFromPlaces, type EventPlace } from './event-store.js';
import { InstanceCache } from './instance-cache.js';
import { finishedStatuses } from '../core/saga/status.js';
import { PostgresLeases } from './leases.js';
import type { Fence } from '../core/ports/leases.js';
import { PostgresDeadLetters } from './dead-letters.js';
import { quoteSchema } from './identifiers.js';
import { statementName } from './statement-name.js';
import { isUniqueViolation } from './sql-errors.js';
import { toHistoryEntry, type HistoryRow } from './transition-log.js';

/** Options of {@link PostgresSagaRepository}. */
export interface PostgresSagaRepositoryOptions {
  /** @default 'sagaflow' */
  schema?: string;
  /** Timestamps of rows (created, updated, history). @default systemClock */
  clock?: Clock;
  /**
   * The event log that emitted events are appended to, in the step's transaction (pass the store with the
   * registry, so emitted events are checked against their schemas). @default a store on the same schema
   */
  store?: PostgresEventStore;
}

/** A {@link CompletionStep} of this repository: the write it applies, decided at `now`. */
export interface PostgresCompletionStep extends CompletionStep {
  write: SagaStepWrite;
  now: string;
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

const iso = (d: Date | string) => new Date(d).toISOString();

function toInstance(r: InstanceRow): SagaInstance {
  return {
    saga: r.saga, key: r.key, version: r.version, definitionVersion: r.definition_version, status: r.status, state: r.state,
    context: r.context, snapshot: r.snapshot, createdAt: iso(r.created_at), updatedAt: iso(r.updated_at),
  };
}
const toTimer = (r: TimerRow): TimerEntry => ({ id: r.timer_id, saga: r.saga, key: r.key, event: r.event, dueAt: iso(r.due_at) });

/**
 * Saga storage on Postgres or PGlite (same SQL through {@link Db}). A step is one transaction of two
 * round trips besides BEGIN/COMMIT: one read (instance + inbox check) and one write statement whose CTEs
 * insert the inbox row, insert or version-check-update the instance, and write history and timers (only
 * the parts the step uses) and append the events it emits to the event log (the store's multi-stream
 * append as CTEs of the same statement). The transaction holds the log's append lock from
 * BEGIN, so the gap-free reader never passes it. Statements are named prepared statements on Postgres:
 * parsed and planned once per connection instead of on every step.
 */
export class PostgresSagaRepository implements SagaRepository {
  readonly deadLetters: PostgresDeadLetters;
  /** The event log emitted events are appended to. */
  readonly store: PostgresEventStore;
  private readonly leases: PostgresLeases;
  private readonly s: string;
  private readonly clock: Clock;
  private readonly readSql: string;
  private readonly readName: string;
  private readonly fencedReadSql: string;
  private readonly fencedReadName: string;
  private readonly lookReadSql: string;
  private readonly lookReadName: string;
  private readonly claimSql: string;
  private readonly claimName: string;
  private readonly preloadSql: string;
  private readonly preloadName: string;
  /** Write statement text → prepared statement name (one per combination of parts a write uses). */
  private readonly writeNames = new Map<string, string>();
  /** Unfinished instances as of this process's last read or write of them (event steps skip their read). */
  private readonly instances = new InstanceCache();
  /**
   * Told, just after a step's commit, the events it appended as stored (ADR 0018: the daemon hands the commands
   * among them to its waiting workers before the worker feed reads them): event steps, timer steps and batches.
   */
  onCommitted: ((events: StoredEvent[]) => void) | undefined;

  constructor(private readonly db: Db, options: PostgresSagaRepositoryOptions = {}) {
    const schema = options.schema ?? 'sagaflow';
    this.s = quoteSchema(schema);
    this.clock = options.clock ?? systemClock;
    this.deadLetters = new PostgresDeadLetters(db, { schema });
    this.store = options.store ?? new PostgresEventStore(db, { schema });
    // Columns listed, not `i.*`: a prepared statement whose result shape changes (a later migration adding a
    // column while this process runs) fails with "cached plan must not change result type".
    this.readSql = `
      SELECT i.saga, i.key, i.version, i.definition_version, i.status, i.state, i.context, i.snapshot, i.created_at, i.updated_at, EXISTS (SELECT 1 FROM ${this.s}.saga_inbox WHERE saga = $1 AND key = $2 AND event_id = $3) AS seen
      FROM (SELECT 1) AS one LEFT JOIN ${this.s}.saga_instances i ON i.saga = $1 AND i.key = $2`;
    this.readName = statementName(this.readSql);
    this.leases = new PostgresLeases(db, { schema });
    // The read of a fenced step also checks the fence (PostgresLeases.fenceQuery): one round trip.
    this.fencedReadSql = `
      SELECT r.*, (SELECT count(*) FROM (${this.leases.fenceQuery('$4', '$5', '$6')}) f)::int AS held
      FROM (${this.readSql}) r`;
    this.fencedReadName = statementName(this.fencedReadSql);
    // The read of a step outside a transaction looks at the fence without locking it (no transaction id, no
    // commit to flush): its write statement checks it again and holds it.
    this.lookReadSql = `
      SELECT r.*, (SELECT count(*) FROM (${this.leases.fenceQuery('$4', '$5', '$6', { lock: false })}) f)::int AS held
      FROM (${this.readSql}) r`;
    this.lookReadName = statementName(this.lookReadSql);
    this.claimSql = `
      WITH c AS (
        SELECT saga, key, timer_id FROM ${this.s}.timers
        WHERE saga = $1 AND key = $2 AND timer_id = $3 AND due_at = $4::timestamptz FOR UPDATE SKIP LOCKED
      ) DELETE FROM ${this.s}.timers t USING c WHERE t.saga = c.saga AND t.key = c.key AND t.timer_id = c.timer_id RETURNING 1`;
    this.claimName = statementName(this.claimSql);
    // A batch's reads in one statement: $1 the (saga, key, event) triples, $2 the fences. Every row carries
    // the names of the fences that still hold (their lease rows locked FOR SHARE until commit, as a single
    // fenced step does); a batch without reads still gets one row for them. Instance and inbox are looked up
    // per triple (a LATERAL subquery with LIMIT, a scalar subquery), so each is an index probe: as a join and
    // an EXISTS, the planner (100 rows estimated for jsonb_to_recordset) hashed a scan of the whole
    // saga_instances and saga_inbox tables for every batch.
    this.preloadSql = `
      WITH held AS (
        SELECT coalesce(array_agg(q.name), '{}') AS names FROM (
          SELECT l.name FROM ${this.s}.leases l
          JOIN jsonb_to_recordset($2::jsonb) AS f(lease text, owner text, epoch bigint) ON l.name = f.lease AND l.owner = f.owner AND l.epoch = f.epoch
          FOR SHARE OF l
        ) q
      ), w AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS w(saga text, key text, event_id text))
      SELECT held.names AS held, w.saga AS w_saga, w.key AS w_key, w.event_id AS w_event_id,
        i.saga, i.key, i.version, i.definition_version, i.status, i.state, i.context, i.snapshot, i.created_at, i.updated_at,
        (SELECT true FROM ${this.s}.saga_inbox x WHERE x.saga = w.saga AND x.key = w.key AND x.event_id = w.event_id) IS NOT NULL AS seen
      FROM held LEFT JOIN w ON true LEFT JOIN LATERAL (
        SELECT i.saga, i.key, i.version, i.definition_version, i.status, i.state, i.context, i.snapshot, i.created_at, i.updated_at
        FROM ${this.s}.saga_instances i WHERE i.saga = w.saga AND i.key = w.key LIMIT 1
      ) i ON true`;
    this.preloadName = statementName(this.preloadSql);
  }

  step<T>(fn: (tx: SagaStepTx) => Promise<T>, options: { fence?: Fence; timer?: boolean } = {}): Promise<T> {
    // A timer's claim commits with the step it fires: one transaction. Any other step is a read and one
    // write statement that commits on its own (see autoTxFor).
    if (options.timer) return this.timerStep(fn, options.fence);
    return fn(this.autoTxFor(options.fence));
  }

  /** A timer step: the claim, the read and the write in one transaction; its appended events are reported once it commits. */
  private async timerStep<T>(fn: (tx: SagaStepTx) => Promise<T>, fence: Fence | undefined): Promise<T> {
    const stored: StoredEvent[] = [];
    const result = await appendTransaction(this.db, this.store.appendLock, (tx) => fn(this.txFor(tx, fence, stored)));
    if (stored.length > 0) this.onCommitted?.(stored);
    return result;
  }

  /**
   * A step in two round trips, without BEGIN and COMMIT: the read on its own, then the write as one
   * statement that commits by itself. That statement carries everything the transaction did: the append
   * lock in a CTE every write depends on (taken before the statement has a transaction id), the fence
   * (FOR SHARE on the lease row, held until it commits), and the version check, which raises instead of
   * returning a count, so a stale read writes nothing. A write that needs several statements (a dead letter,
   * a parked event) runs them in a transaction of its own, fence first. A step writes once: a second write
   * is a programming error.
   */
  private autoTxFor(fence: Fence | undefined): SagaStepTx {
    let wrote = false;
    let cached = false;
    return {
      read: async (saga, key, eventId) => {
        // An instance this process wrote last: its write will check the version, and the inbox row's insert
        // refuses an event applied before (seen is not known here, so it is taken as false).
        const hit = this.instances.get(saga, key);
        if (hit) {
          cached = true;
          return { instance: hit, seen: false };
        }
        let r: InstanceRow & { seen: boolean; held?: number };
        if (fence) {
          r = (await this.db.query<InstanceRow & { seen: boolean; held: number }>(this.lookReadSql, [saga, key, eventId, fence.lease, fence.owner, fence.epoch], { name: this.lookReadName })).rows[0]!;
          if (r.held !== 1) throw new LeaseLostError(fence.lease, fence.owner, fence.epoch);
        } else {
          r = (await this.db.query<InstanceRow & { seen: boolean }>(this.readSql, [saga, key, eventId], { name: this.readName })).rows[0]!;
        }
        const instance = r.saga === null || r.saga === undefined ? undefined : toInstance(r);
        if (instance && !finishedStatuses.has(instance.status)) this.instances.set(instance);
        return { instance, seen: r.seen };
      },
      claimTimer: () => Promise.reject(new Error('a timer is claimed in a step transaction: run the step with { timer: true }')),
      write: async (w) => {
        if (wrote) throw new Error('a step writes once');
        // Only a write with an inbox row can tell that a cached read missed an applied event: decide any other
        // (a dead letter, a note) again on a fresh read.
        if (cached && w.inbox === false) {
          this.instances.delete(w.saga, w.key);
          throw new ConcurrencyError(`saga:${w.saga}/${w.key}`, w.instance?.expectedVersion ?? 0, -1);
        }
        const before = this.instances.get(w.saga, w.key);
        let now: string;
        if (w.deadLetter || w.park || w.unpark) {
          ({ now } = await appendTransaction(this.db, this.store.appendLock, async (tx) => {
            if (fence) await this.leases.checkWith(tx, fence);
            return this.write(tx, w);
          }));
        } else {
          let stored: StoredEvent[];
          ({ now, stored } = await this.write(this.db, w, undefined, { fence }));
          if (stored.length > 0) this.onCommitted?.(stored);
        }
        wrote = true;
        const inst = w.instance;
        if (inst && !finishedStatuses.has(inst.status)) {
          // As a read would return it: JSON values (the write's own objects may hold more than JSON keeps).
          const json = (v: unknown) => (v === undefined ? null : JSON.parse(JSON.stringify(v)) as unknown);
          const prev = inst.create ? undefined : before;
          this.instances.set({
            saga: w.saga, key: w.key, version: inst.expectedVersion + 1, definitionVersion: inst.definitionVersion, status: inst.status,
            state: json(inst.state), context: json(inst.context) as Record<string, unknown>, snapshot: json(inst.snapshot),
            createdAt: prev?.createdAt ?? now, updatedAt: now,
          });
        }
      },
    };
  }

  async stepBatch<T>(fn: (tx: SagaBatchTx) => Promise<T>, options: { fences?: readonly Fence[] } = {}): Promise<T> {
    let stored: StoredEvent[] = [];
    const result = await appendTransaction(this.db, this.store.appendLock, async (tx) => {
      const emitted: EventEnvelope[] = [];
      const result = await fn(this.batchTxFor(tx, options.fences ?? [], emitted));
      stored = await this.store.appendManyValidated(tx, emitted);
      return result;
    });
    if (stored.length > 0) this.onCommitted?.(stored);
    return result;
  }

  /**
   * A batch's operations: `preload` reads every instance and inbox entry at once (and checks the fences);
   * the steps then read from memory, which their writes keep current, so a batch of n steps costs
   * BEGIN, one read, n writes, one append of all their emitted events and one COMMIT.
   */
  private batchTxFor(q: Queryable, fences: readonly Fence[], emitted: EventEnvelope[]): SagaBatchTx {
    const cache = new Map<string, { instance: SagaInstance | undefined; seen: Set<string>; unseen: Set<string> }>();
    const id = (saga: string, key: string) => `${saga}\u0000${key}`;
    let checked = fences.length === 0;
    const preload = async (reads: readonly SagaBatchRead[]) => {
      const { rows } = await q.query<InstanceRow & { held: string[]; w_saga: string | null; w_key: string; w_event_id: string; seen: boolean }>(
        this.preloadSql,
        [JSON.stringify(reads.map((r) => ({ saga: r.saga, key: r.key, event_id: r.eventId }))), JSON.stringify(fences)],
        { name: this.preloadName },
      );
      const held = new Set(rows[0]?.held ?? []);
      const lost = fences.find((f) => !held.has(f.lease));
      if (lost) throw new LeaseLostError(lost.lease, lost.owner, lost.epoch);
      checked = true;
      for (const r of rows) {
        if (r.w_saga === null) continue;
        const k = id(r.w_saga, r.w_key);
        let entry = cache.get(k);
        if (!entry) cache.set(k, (entry = { instance: r.saga === null || r.saga === undefined ? undefined : toInstance(r), seen: new Set(), unseen: new Set() }));
        (r.seen ? entry.seen : entry.unseen).add(r.w_event_id);
      }
    };
    const ensureChecked = async () => {
      if (!checked) await preload([]);
    };
    const single = this.txFor(q, undefined);
    return {
      preload,
      step: {
        read: async (saga, key, eventId) => {
          await ensureChecked();
          const entry = cache.get(id(saga, key));
          if (!entry || (!entry.seen.has(eventId) && !entry.unseen.has(eventId))) return single.read(saga, key, eventId);
          return { instance: entry.instance, seen: entry.seen.has(eventId) };
        },
        claimTimer: async (timer) => {
          await ensureChecked();
          return single.claimTimer(timer);
        },
        write: async (w) => {
          await ensureChecked();
          await this.write(q, w, emitted);
          const entry = cache.get(id(w.saga, w.key));
          if (!entry) return;
          if (w.inbox !== false) {
            entry.unseen.delete(w.event.id);
            entry.seen.add(w.event.id);
          }
          const inst = w.instance;
          if (inst) {
            const at = this.clock.now().toISOString();
            entry.instance = {
              saga: w.saga, key: w.key, version: inst.expectedVersion + 1, definitionVersion: inst.definitionVersion, status: inst.status,
              state: inst.state, context: inst.context, snapshot: inst.snapshot, createdAt: entry.instance?.createdAt ?? at, updatedAt: at,
            };
          }
        },
      },
    };
  }

  /**
   * The step's operations; with a fence, the first statement checks it (the read carries it, else a check of its own).
   * The events its write appends are pushed to `stored` (reported by the caller after the commit).
   */
  private txFor(q: Queryable, fence: Fence | undefined, stored?: StoredEvent[]): SagaStepTx {
    let unchecked = fence;
    const checkFirst = async () => {
      if (!unchecked) return;
      const f = unchecked;
      unchecked = undefined;
      await this.leases.checkWith(q, f);
    };
    return {
      read: async (saga, key, eventId): Promise<SagaStepRead> => {
        let r: InstanceRow & { seen: boolean; held?: number };
        if (unchecked) {
          const f = unchecked;
          unchecked = undefined;
          r = (await q.query<InstanceRow & { seen: boolean; held: number }>(this.fencedReadSql, [saga, key, eventId, f.lease, f.owner, f.epoch], { name: this.fencedReadName })).rows[0]!;
          if (r.held !== 1) throw new LeaseLostError(f.lease, f.owner, f.epoch);
        } else {
          r = (await q.query<InstanceRow & { seen: boolean }>(this.readSql, [saga, key, eventId], { name: this.readName })).rows[0]!;
        }
        return { instance: r.saga === null || r.saga === undefined ? undefined : toInstance(r), seen: r.seen };
      },
      claimTimer: async (timer) => {
        await checkFirst();
        // SKIP LOCKED: a timer another worker is firing right now is left to it; its commit deletes the row.
        const { rows } = await q.query(this.claimSql, [timer.saga, timer.key, timer.id, timer.dueAt], { name: this.claimName });
        return rows.length === 1;
      },
      write: async (w) => {
        await checkFirst();
        const written = await this.write(q, w);
        stored?.push(...written.stored);
      },
    };
  }

  /**
   * The write statement of a step: only the parts it uses (inbox row, instance insert or version-checked
   * update, history row, timer deletes and upserts, and the emitted events appended to the log) as
   * data-modifying CTEs of one statement, each value its own typed parameter. Undefined when there is
   * nothing to write.
   */
  private writeStatement(
    w: SagaStepWrite, now: string, emitted: readonly EventEnvelope[], auto?: { fence: Fence | undefined },
  ): { text: string; values: unknown[] } | undefined {
    const values: unknown[] = [];
    const p = (v: unknown) => `$${values.push(v)}`;
    const ctes: string[] = [];
    // A statement that commits by itself and appends takes the append lock in its first CTE, and every write
    // (and the fence's row lock) depends on it, so all of them come after it; the guard turns any other order
    // into an error instead of a gap a reader could pass (as the one-shot append of the event store).
    const locks = auto !== undefined && emitted.length > 0;
    const after = locks ? ' AND EXISTS (SELECT 1 FROM lk)' : '';
    if (locks) {
      const lock = this.store.appendLock;
      ctes.push(
        `lk AS MATERIALIZED (SELECT pg_advisory_xact_lock_shared(${lock.classId}, ${lock.objId})::text AS l,
           1 / (CASE WHEN pg_current_xact_id_if_assigned() IS NULL THEN 1 ELSE 0 END) AS guard)`,
      );
    }
    const fence = auto?.fence;
    if (fence) {
      ctes.push(`fence AS MATERIALIZED (SELECT count(*)::int AS held FROM (${this.leases.fenceQuery(p(fence.lease), p(fence.owner), `${p(fence.epoch)}::bigint`, { and: after })}) f)`);
    }
    ctes.push(...this.stepCtes(w, now, p, after));
    const inst = w.instance;
    // The emitted events, appended by the same statement (the store's multi-stream append as CTEs).
    if (emitted.length > 0) ctes.push(this.store.appendManyCtes(p(JSON.stringify(emitted)), { after }));
    if (ctes.length === 0) return undefined;
    // Every data-modifying CTE runs to completion whether or not the final SELECT reads it. Alone, the
    // statement refuses (raises, so nothing commits) a lost fence and a version conflict: the casts of the
    // marked strings fail, and writeAuto turns them into LeaseLostError and ConcurrencyError.
    const checks: string[] = [];
    if (fence) checks.push(`(CASE WHEN (SELECT held FROM fence) = 1 THEN '1' ELSE '${LEASE_LOST_MARK}' END)::int AS fenced`);
    if (auto && inst) checks.push(`(CASE WHEN (SELECT count(*) FROM inst) = 1 THEN '1' ELSE '${CONFLICT_MARK}' END)::int AS instance_rows`);
    else checks.push(`${inst ? '(SELECT count(*) FROM inst)::int' : '0'} AS instance_rows`);
    // Where the emitted events landed (reported once they are committed: at once when the statement commits
    // by itself, after the transaction's commit otherwise).
    if (emitted.length > 0) checks.push(`${E_INS_PLACES} AS places`);
    return { text: `WITH ${ctes.join(',\n')}\nSELECT ${checks.join(', ')}`, values };
  }

  /**
   * The data-modifying CTEs of a step's write, only the parts it uses: inbox row, instance insert or
   * version-checked update (`inst`), history row, timer deletes and upserts. `p` adds a parameter and returns
   * its reference; `after` is a condition every write carries (a lock CTE they must come after, a gate).
   * The emitted events are not among them: the caller appends them with its other events.
   */
  private stepCtes(w: SagaStepWrite, now: string, p: (v: unknown) => string, after: string): string[] {
    const s = this.s;
    const json = (v: unknown) => `${p(JSON.stringify(v ?? null))}::jsonb`;
    const saga = `${p(w.saga)}::text`;
    const key = `${p(w.key)}::text`;
    let nowParam: string | undefined;
    const at = () => (nowParam ??= `${p(now)}::timestamptz`);
    const ctes: string[] = [];
    if (w.inbox !== false) ctes.push(`inbox AS (INSERT INTO ${s}.saga_inbox (saga, key, event_id) SELECT ${saga}, ${key}, ${p(w.event.id)}::text WHERE true${after} RETURNING 1)`);
    const inst = w.instance;
    if (inst?.create) {
      ctes.push(
        `inst AS (INSERT INTO ${s}.saga_instances (saga, key, version, definition_version, status, state, context, snapshot, created_at, updated_at)
         SELECT ${saga}, ${key}, 1, ${p(inst.definitionVersion)}::int, ${p(inst.status)}::text, ${json(inst.state)}, ${json(inst.context)}, ${json(inst.snapshot)}, ${at()}, ${at()}
         WHERE true${after} RETURNING 1)`,
      );
    } else if (inst) {
      ctes.push(
        `inst AS (UPDATE ${s}.saga_instances SET version = version + 1, status = ${p(inst.status)}::text, state = ${json(inst.state)},
           context = ${json(inst.context)}, snapshot = ${json(inst.snapshot)}, updated_at = ${at()}
         WHERE saga = ${saga} AND key = ${key} AND version = ${p(inst.expectedVersion)}::int${after} RETURNING 1)`,
      );
    }
    const h = w.history;
    if (h) {
      ctes.push(
        `hist AS (INSERT INTO ${s}.saga_history (saga, key, event_id, event_type, from_state, to_state, effects, kind, note, at)
         SELECT ${saga}, ${key}, ${p(w.event.id)}::text, ${p(w.event.type)}::text, ${json(h.fromState)}, ${json(h.toState)}, ${json(h.effects)},
           ${p(h.kind)}::text, ${p(h.note ?? null)}::text, ${h.at === undefined ? at() : `${p(h.at)}::timestamptz`} WHERE true${after} RETURNING 1)`,
      );
    }
    if (w.cancelledTimers && w.cancelledTimers.length > 0) {
      ctes.push(
        `tdel AS (DELETE FROM ${s}.timers WHERE saga = ${saga} AND key = ${key} AND timer_id IN (SELECT jsonb_array_elements_text(${json(w.cancelledTimers)}))${after} RETURNING 1)`,
      );
    }
    if (w.timers && w.timers.length > 0) {
      ctes.push(
        `tup AS (INSERT INTO ${s}.timers (saga, key, timer_id, event, due_at)
         SELECT ${saga}, ${key}, t->>'id', t->'event', (t->>'dueAt')::timestamptz FROM jsonb_array_elements(${json(w.timers)}) t
         WHERE true${after}
         ON CONFLICT (saga, key, timer_id) DO UPDATE SET event = EXCLUDED.event, due_at = EXCLUDED.due_at, created_at = now()
         RETURNING 1)`,
      );
    }
    return ctes;
  }

  /**
   * Writes one step. Its emitted events are appended now, one statement per stream, or — in a batch —
   * checked now and collected into `deferred`, appended by the batch in one statement before it commits.
   */
  private async write(
    q: Queryable, w: SagaStepWrite, deferred?: EventEnvelope[], auto?: { fence: Fence | undefined },
  ): Promise<{ now: string; stored: StoredEvent[] }> {
    // Whatever happens to this write, a cached copy of the instance is no longer known to be current.
    this.instances.delete(w.saga, w.key);
    const now = this.clock.now().toISOString();
    const inst = w.instance;
    // Emitted events are checked before anything is written: a rejection leaves the transaction clean for
    // the dead letter of the cause. Streams in a fixed order, so two steps lock them in the same order.
    const emitted = [...groupByStream(w.emitted ?? [])].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const batches = emitted.map(([streamId, events]) => ({ streamId, batch: this.store.validate(streamId, events) }));
    // In a batch the events are collected and appended once for all its steps; alone, by the write statement.
    const validated = batches.flatMap((b) => b.batch);
    if (validated.length > 0 && !auto) await ensureAppendLock(q, this.store.appendLock);
    const statement = this.writeStatement(w, now, deferred ? [] : validated, auto);
    let stored: StoredEvent[] = [];
    if (statement) {
      let name = this.writeNames.get(statement.text);
      if (name === undefined) {
        name = statementName(statement.text);
        this.writeNames.set(statement.text, name);
      }
      let res;
      try {
        res = await q.query<{ instance_rows: number; places?: EventPlace[] | null }>(statement.text, statement.values, { name });
      } catch (err) {
        // The inbox row or the instance row was inserted by a concurrent step: lost the race, retry the step.
        // (Or an emitted event's id: the same step, decided and committed by a concurrent writer.)
        if (isUniqueViolation(err, 'saga_inbox_pkey') || isUniqueViolation(err, 'saga_instances_pkey') || isUniqueViolation(err, 'events_event_id_key')) {
          throw new ConcurrencyError(`saga:${w.saga}/${w.key}`, inst?.expectedVersion ?? 0, -1, { cause: err });
        }
        if (auto && isRaisedMark(err, CONFLICT_MARK)) throw new ConcurrencyError(`saga:${w.saga}/${w.key}`, inst?.expectedVersion ?? 0, -1, { cause: err });
        if (auto?.fence && isRaisedMark(err, LEASE_LOST_MARK)) throw new LeaseLostError(auto.fence.lease, auto.fence.owner, auto.fence.epoch);
        throw err;
      }
      if (inst && res.rows[0]!.instance_rows !== 1) throw new ConcurrencyError(`saga:${w.saga}/${w.key}`, inst.expectedVersion, -1);
      if (!deferred && validated.length > 0) stored = storedFromPlaces(validated, res.rows[0]!.places);
    }
    if (deferred) deferred.push(...validated);
    if (w.deadLetter) await this.deadLetters.addWith(q, w.deadLetter);
    if (w.park) {
      await q.query(
        `INSERT INTO ${this.s}.saga_parked (saga, key, event_id, event, parked_at) VALUES ($1, $2, $3, $4::jsonb, $5) ON CONFLICT DO NOTHING`,
        [w.saga, w.key, w.event.id, JSON.stringify(w.event), now],
      );
    }
    if (w.unpark) await q.query(`DELETE FROM ${this.s}.saga_parked WHERE saga = $1 AND key = $2 AND event_id = $3`, [w.saga, w.key, w.event.id]);
    return { now, stored };
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

  /** How many timers are due and not fired (a queue depth for metrics). */
  async countDueTimers(now: Date = this.clock.now()): Promise<number> {
    const { rows } = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${this.s}.timers WHERE due_at <= $1`, [now.toISOString()]);
    return Number(rows[0]?.n ?? 0);
  }

  /** The instance as this process last wrote or read it, when cached and unfinished (see {@link InstanceCache}). */
  cachedInstance(saga: string, key: string): SagaInstance | undefined {
    return this.instances.get(saga, key);
  }

  /**
   * A step decided for a worker's reply, for the completion's statement to apply (ADR 0020). Only a plain write
   * qualifies: an inbox row, an existing instance's version-checked update, history, timers, emitted events
   * (validated here: a rejection throws before anything is sent). The gate holds when `gate.fence` is held and
   * no event of `gate.types` after `gate.after` (the saga reader's position) is unapplied by this process, so
   * the reply is applied after every event of its instance that committed before it, as the reader would.
   */
  completionStep(w: SagaStepWrite, gate: CompletionStepGate): PostgresCompletionStep {
    const inst = w.instance;
    if (!inst || inst.create || w.inbox === false || w.deadLetter || w.park || w.unpark) throw new Error('a completion step is a plain write of an existing instance');
    const emitted = [...groupByStream(w.emitted ?? [])]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .flatMap(([streamId, events]) => this.store.validate(streamId, events));
    // Whatever happens to the completion, a cached copy of the instance is no longer known to be current.
    this.instances.delete(w.saga, w.key);
    const now = this.clock.now().toISOString();
    const [tx, position] = (gate.after ?? '0.0').split('.');
    return {
      write: w,
      now,
      sql: (p, { lock, gated }) => {
        const fence = this.leases.fenceQuery(p(gate.fence.lease), p(gate.fence.owner), `${p(gate.fence.epoch)}::bigint`, { and: lock });
        const unapplied = `SELECT 1 FROM ${this.s}.events e WHERE (e.tx_id, e.position) > (${p(tx)}::xid8, ${p(position)}::bigint)
            AND e.type = ANY(${p(gate.types)}::text[]) AND NOT (e.event_id = ANY(${p(gate.applied)}::uuid[]))`;
        return {
          gate: `(SELECT count(*) FROM (${fence}) f) = 1 AND NOT EXISTS (${unapplied})`,
          ctes: this.stepCtes(w, now, p, gated),
          emitted,
          // The version check raises (nothing commits): the completion is then made without the step.
          checks: [`(CASE WHEN (SELECT ok FROM w_gate) AND (SELECT count(*) FROM inst) <> 1 THEN '${CONFLICT_MARK}' ELSE '1' END)::int AS step_rows`],
        };
      },
      refused: (err) => isRaisedMark(err, CONFLICT_MARK) || isUniqueViolation(err, 'saga_inbox_pkey') || isUniqueViolation(err, 'events_event_id_key'),
    };
  }

  /** A completion applied `step`: the instance is cached as written, and its emitted events reported (`onCommitted`). */
  completionStepped(step: CompletionStep, emitted: StoredEvent[]): void {
    const { write: w, now } = step as PostgresCompletionStep;
    const inst = w.instance!;
    if (!finishedStatuses.has(inst.status)) {
      const json = (v: unknown) => (v === undefined ? null : JSON.parse(JSON.stringify(v)) as unknown);
      this.instances.set({
        saga: w.saga, key: w.key, version: inst.expectedVersion + 1, definitionVersion: inst.definitionVersion, status: inst.status,
        state: json(inst.state), context: json(inst.context) as Record<string, unknown>, snapshot: json(inst.snapshot),
        createdAt: now, updatedAt: now,
      });
    }
    if (emitted.length > 0) this.onCommitted?.(emitted);
  }

  async parked(saga: string, key: string): Promise<EventEnvelope[]> {
    const { rows } = await this.db.query<{ event: EventEnvelope }>(
      `SELECT event FROM ${this.s}.saga_parked WHERE saga = $1 AND key = $2 ORDER BY parked_at, event_id`,
      [saga, key],
    );
    return rows.map((r) => r.event);
  }

  async statusCounts(saga?: string): Promise<Partial<Record<SagaStatus, number>>> {
    const { rows } = await this.db.query<{ status: SagaStatus; n: number }>(
      `SELECT status, count(*)::int AS n FROM ${this.s}.saga_instances WHERE ($1::text IS NULL OR saga = $1) GROUP BY status`,
      [saga ?? null],
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  }

  async sagaNames(): Promise<string[]> {
    // A loose index scan over the primary key (saga, key): one index probe per saga name, where
    // `SELECT DISTINCT saga` would read every instance's entry (PostgreSQL 15 has no skip scan) — it runs
    // at every daemon and CLI start.
    const { rows } = await this.db.query<{ saga: string }>(
      `WITH RECURSIVE names AS (
         (SELECT saga FROM ${this.s}.saga_instances ORDER BY saga LIMIT 1)
         UNION ALL
         SELECT (SELECT i.saga FROM ${this.s}.saga_instances i WHERE i.saga > names.saga ORDER BY i.saga LIMIT 1)
         FROM names WHERE names.saga IS NOT NULL
       )
       SELECT saga FROM names WHERE saga IS NOT NULL`,
    );
    return rows.map((r) => r.saga).sort();
  }

  async list(filter: SagaListFilter = {}): Promise<SagaInstance[]> {
    const cutoff = filter.stuckForMs === undefined ? null : new Date(this.clock.now().getTime() - filter.stuckForMs).toISOString();
    const { rows } = await this.db.query<InstanceRow>(
      `SELECT * FROM ${this.s}.saga_instances
       WHERE ($1::text IS NULL OR saga = $1) AND ($2::text IS NULL OR status = $2)
         AND ($3::timestamptz IS NULL OR (status IN ('running', 'compensating') AND updated_at < $3))
         AND ($5::int IS NULL OR definition_version = $5)
       ORDER BY created_at DESC, key LIMIT $4`,
      [filter.saga ?? null, filter.status ?? null, cutoff, Math.min(filter.limit ?? 100, 10_000), filter.definitionVersion ?? null],
    );
    return rows.map(toInstance);
  }

  async versionCounts(saga?: string): Promise<SagaVersionCount[]> {
    const { rows } = await this.db.query<{ saga: string; definition_version: number; status: SagaVersionCount['status']; n: string }>(
      `SELECT saga, definition_version, status, count(*) AS n FROM ${this.s}.saga_instances
       WHERE ($1::text IS NULL OR saga = $1) GROUP BY saga, definition_version, status ORDER BY saga, definition_version, status`,
      [saga ?? null],
    );
    return rows.map((r) => ({ saga: r.saga, definitionVersion: r.definition_version, status: r.status, instances: Number(r.n) }));
  }

  async get(saga: string, key: string): Promise<SagaInstance | undefined> {
    const { rows } = await this.db.query<InstanceRow>(`SELECT * FROM ${this.s}.saga_instances WHERE saga = $1 AND key = $2`, [saga, key]);
    return rows[0] ? toInstance(rows[0]) : undefined;
  }

  async history(saga: string, key: string, options: { limit?: number } = {}): Promise<SagaHistoryEntry[]> {
    const { rows } = await this.db.query<HistoryRow>(
      `SELECT * FROM ${this.s}.saga_history WHERE saga = $1 AND key = $2 ORDER BY seq LIMIT $3`, [saga, key, Math.min(options.limit ?? 1000, 10_000)],
    );
    return rows.map(toHistoryEntry);
  }

  async timers(saga: string, key: string): Promise<TimerEntry[]> {
    const { rows } = await this.db.query<TimerRow>(`SELECT * FROM ${this.s}.timers WHERE saga = $1 AND key = $2 ORDER BY due_at, timer_id`, [saga, key]);
    return rows.map(toTimer);
  }

  async emitted(saga: string, key: string, options: { limit?: number } = {}): Promise<EventEnvelope[]> {
    const events = await this.store.query({ metadata: { saga, sagaKey: key }, limit: Math.min(options.limit ?? 1000, 10_000) });
    return events.map(({ position: _p, cursor: _c, ...envelope }) => envelope);
  }

}

/** Strings a write statement that commits by itself casts to int to refuse (see writeStatement). */
const CONFLICT_MARK = 'sagaflow:version-conflict';
const LEASE_LOST_MARK = 'sagaflow:lease-lost';

/** True when `err` is the failed cast of `mark` (invalid_text_representation naming it). */
function isRaisedMark(err: unknown, mark: string): boolean {
  const e = err as { code?: unknown; message?: unknown };
  return e?.code === '22P02' && typeof e.message === 'string' && e.message.includes(mark);
}

function groupByStream(events: readonly EventEnvelope[]): Map<string, EventEnvelope[]> {
  const byStream = new Map<string, EventEnvelope[]>();
  for (const e of events) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e]);
  return byStream;
}
