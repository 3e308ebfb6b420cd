import { PGlite } from '@electric-sql/pglite';
import type { Db, DbTransaction, QueryOptions, QueryResult, TransactionOptions } from '../core/ports/db.js';

/**
 * Lets the event loop run before the next query. PGlite executes a query synchronously on this thread and
 * hands the next queued one over in a promise chain, so without a turn of the loop between queries a busy
 * daemon would answer no HTTP request (not even `/healthz`) until its whole queue ran dry.
 */
const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/**
 * {@link Db} over PGlite, the embedded default: PostgreSQL compiled to WASM, one connection.
 * PGlite serialises queries and transactions itself, so callers may issue them concurrently.
 * Only one process may open a data directory at a time.
 */
export class PgliteDb implements Db {
  readonly dialect = 'pglite' as const;
  private closed = false;

  private constructor(readonly pglite: PGlite) {}

  /** Opens (or creates) a database in `dataDir`; in memory when omitted. */
  static async open(dataDir?: string): Promise<PgliteDb> {
    const pglite = dataDir ? new PGlite(dataDir) : new PGlite();
    await pglite.waitReady;
    return new PgliteDb(pglite);
  }

  /** `options.name` is ignored: PGlite has no per-connection prepared statements to reuse. */
  async query<R>(sql: string, params: readonly unknown[] = [], _options?: QueryOptions): Promise<QueryResult<R>> {
    await yieldToLoop();
    const res = await this.pglite.query<R>(sql, params as unknown[]);
    return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
  }

  async exec(sql: string): Promise<void> {
    await this.pglite.exec(sql);
  }

  async transaction<T>(fn: (tx: DbTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    await yieldToLoop();
    return this.pglite.transaction(async (t) => {
      if (options.begin) await t.exec(options.begin);
      return fn({
        query: async <R>(sql: string, params: readonly unknown[] = []) => {
          await yieldToLoop();
          const res = await t.query<R>(sql, params as unknown[]);
          return { rows: res.rows, rowCount: res.affectedRows ?? res.rows.length };
        },
        exec: async (sql: string) => {
          await t.exec(sql);
        },
      });
    });
  }

  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    return this.pglite.listen(channel, onNotify);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pglite.close();
  }
}
