import type { Logger } from 'pino';
import type { EventEnvelope } from '../events/envelope.js';
import type { EventBus, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../ports/event-bus.js';
import type { EventStore } from '../ports/event-store.js';
import type { LogReader } from './shared-log-reads.js';
import { MemoryCheckpoints, type CheckpointStore } from './checkpoints.js';
import { EventRelay, publishTo } from './event-relay.js';
import type { Sleep } from './sleep.js';

/** Options of {@link createDurableBus}. */
export interface DurableBusOptions {
  /** Where `publish` appends first: the source of truth. */
  store: EventStore;
  /** What the relay reads the log through. @default store */
  reader?: LogReader;
  /** Where the relay sends stored events (memory, Redis or hybrid bus). */
  transport: EventBus;
  /** The relay's checkpoint; use a durable one in production. @default MemoryCheckpoints */
  checkpoints?: CheckpointStore;
  /** Checkpoint name. @default 'bus-relay' */
  relayName?: string;
  /** @default 100 */
  batchSize?: number;
  /** Relay polling backstop. @default 1000 */
  pollIntervalMs?: number;
  /** How often the relay saves its checkpoint at most (see `EventRelayOptions.checkpointIntervalMs`). @default 0 */
  checkpointIntervalMs?: number;
  logger?: Logger;
  sleep?: Sleep;
  /** Start the relay with the bus. False when its owner decides (one relay across daemons). @default true */
  startRelay?: boolean;
}

/**
 * Durable publish: `publish` resolves once the events are appended to the event store; a relay
 * then moves them onto the transport. Handlers subscribe on the transport as usual.
 * A crash after the append and before the send loses nothing: the next relay pass sends it.
 */
export class DurableEventBus implements EventBus {
  readonly relay: EventRelay;

  /** Where the relay sends the log (and `events replay --to-bus` sends replays). */
  get transport(): EventBus {
    return this.options.transport;
  }

  constructor(private readonly options: DurableBusOptions) {
    this.relay = new EventRelay({
      store: options.reader ?? options.store,
      deliver: publishTo(options.transport),
      checkpoints: options.checkpoints ?? new MemoryCheckpoints(),
      ...(options.relayName === undefined ? {} : { name: options.relayName }),
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
      ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
    });
  }

  /** Appends each stream's events (in the given order) to the store, then wakes the relay. `orderingKey` is the stream on the transport. */
  async publish(events: EventEnvelope | EventEnvelope[], _options: PublishOptions = {}): Promise<void> {
    const list = Array.isArray(events) ? events : [events];
    const byStream = new Map<string, EventEnvelope[]>();
    for (const e of list) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e]);
    for (const [streamId, batch] of byStream) await this.options.store.append(streamId, batch);
    this.relay.poke();
  }

  subscribe(pattern: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
    return this.options.transport.subscribe(pattern, handler, options);
  }

  async start(): Promise<void> {
    await this.options.transport.start();
    if (this.options.startRelay !== false) this.relay.start();
  }

  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    await this.relay.stop();
    await this.options.transport.stop(options);
  }
}

/**
 * Creates a bus whose `publish` appends to the event store first.
 *
 * @example
 * const bus = createDurableBus({ store, transport: createRedisBus({ url }), checkpoints });
 */
export function createDurableBus(options: DurableBusOptions): DurableEventBus {
  return new DurableEventBus(options);
}
