import { createHash } from 'node:crypto';
import { ErrorCode, SagaflowError } from '../core/errors.js';
import type { Db, DbTransaction, Queryable } from '../core/ports/db.js';

/**
 * The appenders' marker of the gap-free reader (ADR 0006, `GAP-FREE-READER.md`): every transaction that
 * may append to a store's `events` takes a **shared** transaction-scoped advisory lock on the store's key
 * before its first write, so before it has a transaction id. A reader then waits only for the holders of
 * that lock (found in `pg_locks`), not for every transaction on the server as `pg_snapshot_xmin` would.
 *
 * The key is the two-int4 form `(1936158566, hash(schema))`: the first half says "sagaflow", the second
 * separates two stores (schemas) in one database, so they never wait for each other.
 */
export interface AppendLock {
  /** First half of the advisory key (the same for every sagaflow store). */
  readonly classId: number;
  /** Second half: derived from the schema name. */
  readonly objId: number;
  /** `SELECT pg_advisory_xact_lock_shared(…)` with the key inlined (two integers: no input text reaches SQL). */
  readonly sql: string;
}

/** "sagf" as a big-endian int4: the advisory-lock namespace of sagaflow. */
const sagaflowClassId = 0x73616766;

/** The append lock of the store in `schema`. */
export function appendLockFor(schema: string): AppendLock {
  const objId = createHash('sha1').update(schema).digest().readUInt32BE(0) & 0x7fffffff;
  return { classId: sagaflowClassId, objId, sql: `SELECT pg_advisory_xact_lock_shared(${sagaflowClassId}, ${objId})` };
}

/**
 * Transactions known to hold the append lock of a key (`${classId}.${objId}`): the `Db` marks the ones
 * it began with the lock, and `ensureAppendLock` marks the ones it took it in. Weak: a finished
 * transaction object is collected with its mark.
 */
const holders = new WeakMap<object, Set<string>>();

const keyOf = (lock: AppendLock) => `${lock.classId}.${lock.objId}`;

/** Records that `tx` took `lock`. */
function markAppendLock(tx: object, lock: AppendLock): void {
  const set = holders.get(tx) ?? new Set<string>();
  set.add(keyOf(lock));
  holders.set(tx, set);
}

/** Thrown when a transaction wrote before it took the append lock: a reader could pass its events. */
export class AppendLockOrderError extends SagaflowError {
  constructor() {
    super(
      ErrorCode.AppendLockOrder,
      'this transaction wrote before it appended to the event store: begin it with the store\'s append lock ' +
        '(db.transaction(fn, { appendLock })) or append before any other write, or a gap-free reader could skip its events',
    );
    this.name = 'AppendLockOrderError';
  }
}

/**
 * Makes sure `tx` holds `lock` before it appends. A transaction begun with the lock passes at once; any
 * other takes it now, and must not have a transaction id yet (an id assigned before the lock could be
 * passed by a reader): that is a programming error, reported instead of a silent gap.
 */
export async function ensureAppendLock(tx: Queryable, lock: AppendLock): Promise<void> {
  if (holders.get(tx)?.has(keyOf(lock))) return;
  const { rows } = await tx.query<{ had_xid: boolean }>(
    `SELECT pg_current_xact_id_if_assigned() IS NOT NULL AS had_xid, pg_advisory_xact_lock_shared(${lock.classId}, ${lock.objId}) IS NULL AS locked`,
  );
  if (rows[0]?.had_xid) throw new AppendLockOrderError();
  markAppendLock(tx, lock);
}

/**
 * Two rows of `pg_locks` held by one transaction: matched on the backend's `pid`, not on
 * `virtualtransaction`. The view reads each row's virtual transaction id from the backend as it copies the
 * row, and a committing backend clears it (ProcArrayEndTransaction) while still holding its locks: one copy
 * then shows the xid lock under `5/0` and the advisory lock under `5/87246` (measured), and a join on it
 * took a committing appender for a transaction without the append lock, so a reader passed its rows (its
 * commit not yet visible in the reader's snapshot). A backend runs one transaction at a time and a copy of the
 * lock table is atomic, so the pid pairs the locks of one transaction. Prepared transactions have no pid: for
 * them the virtual transaction id (stable there) is compared.
 */
function sameHolder(x: string, a: string): string {
  return `(${x}.pid = ${a}.pid OR (${x}.pid IS NULL AND ${a}.pid IS NULL AND ${x}.virtualtransaction = ${a}.virtualtransaction))`;
}

/**
 * Statement 1 of a gap-free read: the bound below which every transaction id is final. It is the
 * snapshot's xmax, lowered to the smallest transaction id among the current holders of the append lock
 * in this database. `pg_locks.transactionid` is a 32-bit xid: it is widened to the 64-bit `xid8` of the
 * snapshot's epoch by its wrap-around distance below xmax (`widenXid` in TypeScript is the same rule, for
 * tests); an xid at or above xmax (taken after the snapshot) does not lower the bound. A holder with no
 * xid yet will get one at or above xmax, so it does not lower the bound either.
 */
export function readBoundSql(lock: AppendLock): string {
  return `
    WITH s AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::numeric AS xmax),
    h AS (
      SELECT DISTINCT x.transactionid::text::numeric AS x32
      FROM pg_locks a JOIN pg_locks x ON ${sameHolder('x', 'a')} AND x.locktype = 'transactionid'
      WHERE a.locktype = 'advisory' AND a.classid = ${lock.classId}::oid AND a.objid = ${lock.objId}::oid AND a.objsubid = 2
        AND a.granted AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    )
    SELECT least(s.xmax, (SELECT min(s.xmax - d.distance) FROM h,
      LATERAL (SELECT mod(mod(s.xmax, 4294967296) - h.x32 + 4294967296, 4294967296) AS distance) d
      WHERE d.distance < 2147483648))::text AS bound
    FROM s`;
}

/**
 * A gap-free read in **one** statement (ADR 0006, "One statement"): the rows of `events` visible in the
 * statement's snapshot S, past the cursor (`$1` tx id, `$2` position, `$3` limit), below a bound computed
 * from S and from one copy of the lock table taken after S:
 *
 * - S's xmax, lowered to each transaction in progress at S (`pg_snapshot_xip`) unless, in the lock table,
 *   it is still running without the append lock (a transaction with an xid that does not hold the lock never
 *   appends). An appender in progress at S either still holds the lock (its xid lock is released before its
 *   advisory locks, and both are read from one copy) or has ended since: either way it lowers the bound, so
 *   its rows, invisible in S, are never passed.
 * - A transaction that ended between S and the lock table's copy lowers the bound too, whatever it did; the
 *   statement then says `retry` (the page may stop short of what is committed: read again at once).
 *
 * One row comes back even when no event does (`event_id` null), carrying `retry`.
 */
export function readPageSql(lock: AppendLock, eventsTable: string, columns: string): string {
  return `
    WITH snap AS MATERIALIZED (SELECT pg_current_snapshot() AS s),
    locks AS MATERIALIZED (
      SELECT locktype, mode, granted, transactionid::text::numeric AS x32, virtualtransaction, pid, classid, objid, objsubid, database
      FROM pg_locks WHERE locktype IN ('transactionid', 'advisory')
    ),
    running AS (
      SELECT x.x32, EXISTS (
        SELECT 1 FROM locks a WHERE ${sameHolder('x', 'a')} AND a.locktype = 'advisory'
          AND a.classid = ${lock.classId}::oid AND a.objid = ${lock.objId}::oid AND a.objsubid = 2 AND a.granted
          AND a.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      ) AS appends
      FROM locks x WHERE x.locktype = 'transactionid' AND x.mode = 'ExclusiveLock' AND x.granted
    ),
    open AS (
      SELECT xip::text::numeric AS xid, r.appends
      FROM snap, pg_snapshot_xip(snap.s) AS xip LEFT JOIN running r ON r.x32 = mod(xip::text::numeric, 4294967296)
      WHERE r.appends IS DISTINCT FROM false
    ),
    b AS MATERIALIZED (
      SELECT least(pg_snapshot_xmax(snap.s)::text::numeric, (SELECT min(xid) FROM open)) AS bound,
             coalesce((SELECT min(xid) FROM open WHERE appends IS NULL) < least(pg_snapshot_xmax(snap.s)::text::numeric,
               (SELECT min(xid) FROM open WHERE appends)), false) AS retry
      FROM snap
    )
    SELECT b.retry, e.* FROM b LEFT JOIN LATERAL (
      SELECT ${columns} FROM ${eventsTable}
      WHERE (tx_id, position) > ($1::xid8, $2::bigint) AND tx_id < b.bound::text::xid8
      ORDER BY tx_id, position LIMIT $3
    ) e ON true`;
}

/**
 * The 64-bit id of a 32-bit xid relative to `xmax` (the rule `readBoundSql` applies in SQL): the id
 * below xmax at the xid's wrap-around distance, or undefined when the xid is at or above xmax.
 */
export function widenXid(xmax: bigint, xid32: bigint): bigint | undefined {
  const mod = 4294967296n;
  const distance = (((xmax % mod) - xid32) % mod + mod) % mod;
  return distance < mod / 2n ? xmax - distance : undefined;
}

/**
 * Runs `fn` in a transaction that holds `lock` from its first statement (taken in the same round trip as
 * `BEGIN`): every transaction that appends events goes through here or through `ensureAppendLock`.
 */
export function appendTransaction<T>(db: Db, lock: AppendLock, fn: (tx: DbTransaction) => Promise<T>): Promise<T> {
  return db.transaction(async (tx) => {
    markAppendLock(tx, lock);
    return fn(tx);
  }, { begin: lock.sql });
}
