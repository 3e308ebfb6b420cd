import pg from 'pg';
import { currentStatementTimeout, type Db, type DbTransaction, type QueryOptions, type QueryResult, type TransactionOptions } from '../core/ports/db.js';
import { mapDriverError } from './sql-errors.js';

export interface PgDbOptions {
  connectionString: string;
  /** @default 10 */
  max?: number;
  /** Per-statement timeout in ms (`statement_timeout`). @default 30000 */
  statementTimeoutMs?: number;
  /**
   * The server ends a session that stays idle inside a transaction this long
   * (`idle_in_transaction_session_timeout`): a frozen or paused process holding the event log's append lock
   * is cut off, so gap-free readers wait for it at most this long. @default 10000
   */
  idleInTransactionTimeoutMs?: number;
  applicationName?: string;
}

/** A named query config when a name is given (pg prepares it once per connection), else a plain one. */
function toConfig(text: string, params: readonly unknown[], options: QueryOptions | undefined): pg.QueryConfig {
  const values = params as unknown[];
  return options?.name ? { name: options.name, text, values } : { text, values };
}

/** {@link Db} over a `pg.Pool`. */
export class PgDb implements Db {
  readonly dialect = 'postgres' as const;
  readonly pool: pg.Pool;
  private closed = false;

  constructor(options: PgDbOptions | pg.Pool) {
    this.pool =
      options instanceof pg.Pool
        ? options
        : new pg.Pool({
            connectionString: options.connectionString,
            max: options.max ?? 10,
            statement_timeout: options.statementTimeoutMs ?? 30_000,
            idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 10_000,
            application_name: options.applicationName ?? 'sagaflow',
          });
    // An idle client that loses its connection emits 'error' on the pool; without a listener
    // that would crash the process. The next query gets a fresh client and reports the failure.
    this.pool.on('error', () => {});
    // A dying connection can emit 'error' on its client when no query is active (between the statements of a
    // transaction, after the pool or we released it as broken, more than once): with no listener at that
    // instant the process would exit. Every client gets a permanent one; failures reach callers through
    // their queries (rejected), and broken clients are destroyed, never reused.
    this.pool.on('connect', (client) => {
      client.on('error', () => {});
    });
  }

  async query<R>(sql: string, params: readonly unknown[] = [], options?: QueryOptions): Promise<QueryResult<R>> {
    // Under withStatementTimeout: in a transaction of its own, whose first statement sets the limit locally.
    if (currentStatementTimeout() !== undefined) return this.transaction((tx) => tx.query<R>(sql, params, options));
    try {
      const res = await this.pool.query(toConfig(sql, params, options));
      return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
    } catch (err) {
      throw mapDriverError(err);
    }
  }

  async exec(sql: string): Promise<void> {
    await this.query(sql);
  }

  async transaction<T>(fn: (tx: DbTransaction) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapDriverError(err);
    }
    const tx: DbTransaction = {
      query: async <R>(sql: string, params: readonly unknown[] = [], options?: QueryOptions) => {
        const res = await client.query(toConfig(sql, params, options));
        return { rows: res.rows as R[], rowCount: res.rowCount ?? 0 };
      },
      exec: async (sql: string) => {
        await client.query(sql);
      },
    };
    let broken: Error | undefined;
    try {
      // One simple-protocol round trip for BEGIN and the begin statement (both without parameters).
      const timeout = currentStatementTimeout();
      const begin = [timeout !== undefined ? `SET LOCAL statement_timeout = ${timeout}` : undefined, options.begin].filter(Boolean).join('; ');
      await client.query(begin ? `BEGIN; ${begin}` : 'BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackErr) {
        broken = rollbackErr as Error; // the connection is unusable: destroy it, don't return it to the pool
      }
      throw mapDriverError(err);
    } finally {
      client.release(broken);
    }
  }

  /**
   * Holds one connection in `LISTEN channel`. A lost connection (server restart, terminated backend) is
   * replaced after a second, and `onNotify('')` is called once it listens again: notifications sent while it
   * was away are lost (they are wake-ups only), so the caller's readers should look at once.
   */
  async listen(channel: string, onNotify: (payload: string) => void): Promise<() => Promise<void>> {
    const quoted = `"${channel.replace(/"/g, '""')}"`;
    let stopped = false;
    let client: pg.PoolClient | undefined;
    let retry: NodeJS.Timeout | undefined;
    const handler = (msg: pg.Notification) => {
      if (msg.channel === channel) onNotify(msg.payload ?? '');
    };
    const connect = async (): Promise<void> => {
      const c = await this.pool.connect();
      c.on('notification', handler);
      let lost = false;
      c.on('error', (err) => {
        if (lost) return; // a dying connection may report more than one error
        lost = true;
        c.off('notification', handler);
        c.release(err);
        if (client === c) client = undefined;
        if (!stopped) scheduleReconnect();
      });
      try {
        await c.query(`LISTEN ${quoted}`);
      } catch (err) {
        c.release(err as Error);
        throw err;
      }
      client = c;
    };
    const scheduleReconnect = () => {
      retry = setTimeout(() => {
        connect().then(
          () => onNotify(''),
          () => {
            if (!stopped) scheduleReconnect();
          },
        );
      }, 1000);
      retry.unref();
    };
    await connect();
    return async () => {
      stopped = true;
      clearTimeout(retry);
      const c = client;
      client = undefined;
      if (!c) return;
      c.off('notification', handler);
      try {
        await c.query(`UNLISTEN ${quoted}`);
        c.release();
      } catch (err) {
        c.release(err as Error);
      }
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}
