import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The one SQL seam. Wraps `pg.Pool` and PGlite so the same SQL, migrations and tests run on both.
 * Only `$n` parameters; identifiers come from allow-lists (see `postgres/identifiers.ts`).
 */
export interface QueryResult<R> {
  rows: R[];
  rowCount: number;
}

/** Per-statement options. */
export interface QueryOptions {
  /**
   * Run as a named prepared statement (parsed and planned once per connection, then only bound and
   * executed). The name must always stand for the same SQL text. Drivers without them ignore it.
   */
  name?: string;
}

/** Something that runs one parameterised statement. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[], options?: QueryOptions): Promise<QueryResult<R>>;
}

/** Options of {@link Db.transaction}. */
export interface TransactionOptions {
  /**
   * A statement without parameters run right after `BEGIN`, in the same round trip where the driver
   * allows it (e.g. the event store's append lock, which must come before the transaction's first write).
   */
  begin?: string;
}

/** A connection inside a transaction. */
export interface DbTransaction extends Queryable {
  /** Runs several statements with no parameters. */
  exec(sql: string): Promise<void>;
}

/** The database handle. */
export interface Db extends Queryable {
  /** `postgres` for a `pg.Pool`, `pglite` for the embedded engine (one connection, serialised). */
  readonly dialect: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: commit when it resolves, roll back when it throws. */
  transaction<T>(fn: (tx: DbTransaction) => Promise<T>, options?: TransactionOptions): Promise<T>;
  /** Runs several statements with no parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Subscribes to `LISTEN channel`; a wake-up hint only, never delivery. Returns an unsubscribe function. */
  listen?(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

const statementTimeout = new AsyncLocalStorage<number>();

/**
 * Runs `fn` with every statement a {@link Db} runs on its behalf (in this async context) under
 * `statement_timeout = ms` (`SET LOCAL` in the statement's transaction): the API's read routes run so, and a
 * heavy query is cancelled instead of holding the database. Postgres only: PGlite runs a statement to its end
 * on the calling thread, so nothing can interrupt it.
 */
export function withStatementTimeout<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  return statementTimeout.run(Math.max(1, Math.trunc(ms)), fn);
}

/** The statement timeout {@link withStatementTimeout} set for this async context, if any. */
export function currentStatementTimeout(): number | undefined {
  return statementTimeout.getStore();
}
