import type { Logger } from 'pino';
import pino from 'pino';
import { SagaflowError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { Db } from '../core/ports/db.js';
import type { DeadLetters } from '../core/ports/dead-letters.js';
import { quoteSchema } from '../postgres/identifiers.js';
import type { PostgresEventStore } from '../postgres/event-store.js';
import { PollingLoop } from '../runtime/polling-loop.js';

export interface OutboxToStoreOptions {
  db: Db;
  schema: string;
  store: PostgresEventStore;
  deadLetters: DeadLetters;
  /** @default 100 */
  batchSize?: number;
  /** @default 100 */
  intervalMs?: number;
  /** Called after rows entered the store (wake the readers of the log). */
  onMoved?: () => void;
  logger?: Logger;
}

interface Row {
  id: string;
  saga: string;
  key: string;
  event: EventEnvelope;
}

/**
 * The daemon's outbox relay when the bus is durable (publish = append to the event store): it moves
 * unsent outbox rows into the event store **in the same transaction** that marks them sent, so each
 * emitted event enters the log exactly once (its id is the outbox row id) and the bus relay carries
 * it on from there.
 *
 * Why not the runtime's `OutboxRelay` here: it holds the claimed rows' transaction open while it calls
 * `bus.publish`, and a durable publish appends through the same database. On PGlite (one connection)
 * that waits on itself forever; on Postgres it costs a second connection per batch. Appending inside
 * the claim transaction needs neither. Rows are claimed with `FOR UPDATE SKIP LOCKED`, so several
 * daemons split the work. A row the store rejects (its data fails the schema) is marked sent with the
 * error and dead-lettered, instead of blocking the rows behind it.
 */
export class OutboxToStore {
  private readonly s: string;
  private readonly loop: PollingLoop;
  private readonly logger: Logger;

  constructor(private readonly options: OutboxToStoreOptions) {
    this.s = quoteSchema(options.schema);
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'outbox-to-store' });
    this.loop = new PollingLoop(() => this.runOnce(), { intervalMs: options.intervalMs ?? 100, errorBackoffMs: 1000, logger: this.logger, what: 'outbox to store' });
  }

  /** Moves one batch; returns how many rows were handled. */
  async runOnce(): Promise<number> {
    const rejected: Array<{ row: Row; error: Error }> = [];
    const n = await this.options.db.transaction(async (tx) => {
      const { rows } = await tx.query<Row>(
        `SELECT id, saga, key, event FROM ${this.s}.outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [this.options.batchSize ?? 100],
      );
      for (const row of rows) {
        await tx.query('SAVEPOINT outbox_row');
        try {
          await this.options.store.appendWith(tx, row.event.streamId, [row.event]);
          await tx.query('RELEASE SAVEPOINT outbox_row');
          await tx.query(`UPDATE ${this.s}.outbox SET sent_at = now(), attempts = attempts + 1 WHERE id = $1`, [row.id]);
        } catch (err) {
          await tx.query('ROLLBACK TO SAVEPOINT outbox_row');
          // Only a definite rejection is parked; anything else (connection, conflict) aborts the batch for a retry.
          if (!(err instanceof SagaflowError) || err.retryable) throw err;
          rejected.push({ row, error: err });
          await tx.query(`UPDATE ${this.s}.outbox SET sent_at = now(), attempts = attempts + 1, last_error = $2 WHERE id = $1`, [row.id, `rejected: ${err.message}`.slice(0, 2000)]);
        }
      }
      return rows.length;
    });
    if (n > rejected.length) this.options.onMoved?.();
    for (const { row, error } of rejected) {
      const at = new Date().toISOString();
      this.logger.error({ saga: row.saga, sagaKey: row.key, eventId: row.id, err: error }, 'emitted event rejected by the event store; dead-lettered');
      await this.options.deadLetters.add({
        handlerId: 'outbox', event: row.event, attempts: 1, firstFailedAt: at, lastFailedAt: at, saga: row.saga, sagaKey: row.key,
        error: { message: error.message, code: (error as SagaflowError).code },
      });
    }
    return n;
  }

  /** Runs every batch now; returns how many rows were handled. */
  async drain(maxBatches = 100): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await this.runOnce();
      total += n;
      if (n === 0) break;
    }
    return total;
  }

  start(): void {
    this.loop.start();
  }
  wake(): void {
    this.loop.wake();
  }
  stop(): Promise<void> {
    return this.loop.stop();
  }
}
