import pino, { type Logger } from 'pino';
import type { EventEnvelope } from '../events/envelope.js';
import { systemClock, type Clock } from '../ports/clock.js';
import type { EventBus, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../ports/event-bus.js';
import { DedupeWindow } from './dedupe-window.js';
import { TransportHealth } from './transport-health.js';

/** A transport that may offer a cheap health probe (the Redis bus does: `PING`). */
export type ProbedBus = EventBus & { ping?(timeoutMs?: number): Promise<void>; crash?(): void };

/** Options of {@link createHybridBus}. */
export interface HybridBusOptions {
  /** Carries every event while healthy (e.g. the Redis bus). */
  primary: ProbedBus;
  /** Takes publishes while the primary is down (e.g. the memory bus, or a second Redis). */
  fallback: ProbedBus;
  /** Optional best-effort mirror: every event the primary accepts is also sent here; its failures are only logged. */
  secondary?: ProbedBus;
  /** Consecutive primary failures before failing over. @default 3 */
  failureThreshold?: number;
  /** While down, how often the primary is probed. @default 1000 */
  probeIntervalMs?: number;
  /** A primary publish slower than this counts as a failure (the event then goes to the fallback). @default 2000 */
  publishTimeoutMs?: number;
  /** Event ids remembered per subscription for consumer-side dedupe. @default 100000 */
  dedupeCapacity?: number;
  logger?: Logger;
  clock?: Clock;
}

/**
 * Primary / secondary / fallback composition with health tracking and consumer-side dedupe.
 * Handlers subscribe on every transport through one {@link DedupeWindow}, so an event that reaches
 * them twice (published to the fallback during an outage and delivered late by the primary, or
 * mirrored to the secondary) runs the handler once. Order across transports is not kept: consumers
 * that care order by stream version.
 */
export class HybridEventBus implements EventBus {
  readonly health: TransportHealth;
  private readonly logger: Logger;
  private readonly transports: ProbedBus[];

  constructor(private readonly options: HybridBusOptions) {
    this.health = new TransportHealth(options.clock ?? systemClock, options.failureThreshold ?? 3, options.probeIntervalMs ?? 1000);
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'hybrid-bus' });
    this.transports = [options.primary, ...(options.secondary ? [options.secondary] : []), options.fallback];
  }

  async publish(events: EventEnvelope | EventEnvelope[], options: PublishOptions = {}): Promise<void> {
    const { primary, fallback, secondary } = this.options;
    if (this.health.shouldTry()) {
      try {
        // While down, probe cheaply first when the primary can: a failed probe publishes nothing twice.
        if (this.health.state === 'down' && primary.ping) await primary.ping(this.options.publishTimeoutMs ?? 2000);
        await withTimeout(primary.publish(events, options), this.options.publishTimeoutMs ?? 2000);
        if (this.health.state === 'down') this.logger.info('primary transport is back; failing back');
        this.health.success();
        if (secondary) secondary.publish(events, options).catch((err: unknown) => this.logger.debug({ err }, 'secondary publish failed (best effort)'));
        return;
      } catch (err) {
        const wasUp = this.health.state === 'up';
        this.health.failure();
        if (wasUp && (this.health.state as string) === 'down') this.logger.warn({ err }, 'primary transport failed repeatedly; failing over');
        else this.logger.debug({ err }, 'primary publish failed; using fallback');
      }
    }
    await fallback.publish(events, options);
  }

  async subscribe(pattern: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const window = new DedupeWindow(this.options.dedupeCapacity ?? 100_000);
    const deduped: EventHandler = async (event, ctx) => {
      const r = await window.run(event.id, () => handler(event, ctx));
      if (r === 'duplicate') ctx.logger.debug({ eventId: event.id }, 'duplicate delivery skipped');
    };
    const subs = await Promise.all(this.transports.map((t) => t.subscribe(pattern, deduped, options)));
    return {
      pattern,
      group: subs[0]!.group,
      unsubscribe: async () => {
        await Promise.all(subs.map((s) => s.unsubscribe()));
      },
    };
  }

  async start(): Promise<void> {
    await Promise.all(this.transports.map((t) => t.start()));
  }

  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    await Promise.all(this.transports.map((t) => t.stop(options)));
  }

  /** Test hook: crashes every transport that supports it. */
  crash(): void {
    for (const t of this.transports) t.crash?.();
  }
}

/**
 * Creates the hybrid bus (`EVENT_BUS_TYPE=hybrid`).
 *
 * @example
 * const bus = createHybridBus({ primary: createRedisBus({ url }), fallback: createMemoryBus() });
 */
export function createHybridBus(options: HybridBusOptions): HybridEventBus {
  return new HybridEventBus(options);
}

async function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`primary publish took over ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
