import { pino, type Logger } from 'pino';
import type { EventBus } from '../core/ports/event-bus.js';
import type { SagaRepository } from '../core/ports/saga-repository.js';
import { PollingLoop } from './polling-loop.js';

/** Options of {@link OutboxRelay}. */
export interface OutboxRelayOptions {
  repository: SagaRepository;
  bus: EventBus;
  /** Rows per claim. @default 100 */
  batchSize?: number;
  /** Poll interval when idle (a step that emits wakes the relay at once). @default 200 */
  intervalMs?: number;
  /** Wait after a failed publish before the next try. @default 1000 */
  errorBackoffMs?: number;
  logger?: Logger;
}

/**
 * Publishes committed outbox rows through the bus, at least once. Each row is claimed with
 * `FOR UPDATE SKIP LOCKED` (Postgres) so several relays in several processes split the work, published
 * with the row id as the event id (consumers dedupe on it), and marked sent only after `publish`
 * resolved. A crash between publish and mark re-publishes the row: the duplicate a consumer must expect.
 *
 * The claim transaction stays open while `publish` runs. Do not pair it with a bus whose `publish` writes
 * through the same single-connection database (a durable bus on PGlite would wait on itself): the daemon
 * uses `OutboxToStore` instead, which moves rows into the event store inside the claim transaction.
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private readonly intervalMs: number;
  private readonly errorBackoffMs: number;
  private readonly logger: Logger;
  private readonly loop: PollingLoop;

  constructor(private readonly options: OutboxRelayOptions) {
    this.batchSize = options.batchSize ?? 100;
    this.intervalMs = options.intervalMs ?? 200;
    this.errorBackoffMs = options.errorBackoffMs ?? 1000;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'outbox-relay' });
    this.loop = new PollingLoop(() => this.drain(10), { intervalMs: this.intervalMs, errorBackoffMs: this.errorBackoffMs, logger: this.logger, what: 'outbox publish' });
  }

  /** Publishes one batch; returns how many rows were sent. Throws when publishing failed. */
  runOnce(): Promise<number> {
    return this.options.repository.relayOutbox(this.batchSize, async (entries) => {
      // The row id is the event id (set when the row was written), so a re-publish carries the same id.
      await this.options.bus.publish(entries.map((e) => ({ ...e.event, id: e.id })));
    });
  }

  /** Publishes until the outbox is empty (or `maxBatches` ran). Returns rows sent. */
  async drain(maxBatches = 1000): Promise<number> {
    let total = 0;
    for (let i = 0; i < maxBatches; i++) {
      const n = await this.runOnce();
      total += n;
      if (n < this.batchSize) break;
    }
    return total;
  }

  /** Asks a running relay to look now instead of at the next interval. */
  wake(): void {
    this.loop.wake();
  }

  /** Starts the polling loop. Idempotent. */
  start(): void {
    this.loop.start();
  }

  /** Stops after the batch in flight. Idempotent. */
  stop(): Promise<void> {
    return this.loop.stop();
  }
}
