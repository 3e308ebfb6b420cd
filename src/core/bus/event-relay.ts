import pino, { type Logger } from 'pino';
import type { EventEnvelope } from '../events/envelope.js';
import type { EventBus } from '../ports/event-bus.js';
import type { EventStore, StoredEvent } from '../ports/event-store.js';
import type { CheckpointStore } from './checkpoints.js';
import { realSleep, type Sleep } from './sleep.js';

/** Options of {@link EventRelay}. */
export interface EventRelayOptions {
  store: EventStore;
  transport: EventBus;
  checkpoints: CheckpointStore;
  /** Checkpoint name. @default 'bus-relay' */
  name?: string;
  /** Events per read (`EVENT_PROCESSING_BATCH_SIZE`). @default 100 */
  batchSize?: number;
  /** Polling backstop when nobody pokes. @default 1000 */
  pollIntervalMs?: number;
  logger?: Logger;
  sleep?: Sleep;
}

/**
 * Moves stored events onto the transport: reads the store's gap-free global log after the saved
 * checkpoint, publishes, then saves the new checkpoint. A crash between publish and checkpoint sends
 * the batch again (at-least-once; consumers dedupe by event id); a crash before publish loses nothing,
 * because the event is already in the store.
 */
export class EventRelay {
  private readonly name: string;
  private readonly logger: Logger;
  private readonly sleep: Sleep;
  private running = false;
  private loop: Promise<void> | undefined;
  private stopController = new AbortController();
  private pokeController = new AbortController();
  private busy: Promise<number> | undefined;

  constructor(private readonly options: EventRelayOptions) {
    this.name = options.name ?? 'bus-relay';
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'event-relay', relay: this.name });
    this.sleep = options.sleep ?? realSleep;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopController = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopController.abort();
    this.pokeController.abort();
    await this.loop;
  }

  /** Wakes the relay now (after an append) instead of at the next poll. */
  poke(): void {
    this.pokeController.abort();
  }

  /** Relays everything stored after the checkpoint; returns how many events were sent. Serialised. */
  async runOnce(): Promise<number> {
    while (this.busy) await this.busy.catch(() => undefined);
    this.busy = this.drain();
    try {
      return await this.busy;
    } finally {
      this.busy = undefined;
    }
  }

  private async drain(): Promise<number> {
    const { store, transport, checkpoints } = this.options;
    let sent = 0;
    let after = await checkpoints.load(this.name);
    for (;;) {
      const page = await store.readAll({ after, limit: this.options.batchSize ?? 100 });
      if (page.events.length === 0 || page.next === undefined) return sent;
      // One publish per stream run keeps each stream's events in order on the transport.
      for (const run of streamRuns(page.events)) await transport.publish(run.map(toEnvelope), { orderingKey: run[0]!.streamId });
      await checkpoints.save(this.name, page.next);
      after = page.next;
      sent += page.events.length;
    }
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.pokeController = new AbortController();
      try {
        await this.runOnce();
        failures = 0;
      } catch (err) {
        failures++;
        this.logger.warn({ err, failures }, 'relay pass failed; retrying');
      }
      if (!this.running) return;
      const wait = failures > 0 ? Math.min(5000, 100 * 2 ** Math.min(failures, 6)) : (this.options.pollIntervalMs ?? 1000);
      await this.sleep(wait, AbortSignal.any([this.stopController.signal, this.pokeController.signal]));
    }
  }
}

function toEnvelope(e: StoredEvent): EventEnvelope {
  return { id: e.id, type: e.type, streamId: e.streamId, aggregateType: e.aggregateType, version: e.version, timestamp: e.timestamp, data: e.data, metadata: e.metadata };
}

function streamRuns(events: StoredEvent[]): StoredEvent[][] {
  const runs: StoredEvent[][] = [];
  for (const e of events) {
    const last = runs.at(-1);
    if (last && last[0]!.streamId === e.streamId) last.push(e);
    else runs.push([e]);
  }
  return runs;
}
