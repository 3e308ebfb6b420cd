import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import pino, { type Logger } from 'pino';
import { UnavailableError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import { newId } from '../core/ids.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { DeadLetters } from '../core/ports/dead-letters.js';
import type { EventBus, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../core/ports/event-bus.js';
import { Semaphore } from '../core/bus/semaphore.js';
import { realSleep, type Sleep } from '../core/bus/sleep.js';
import { resolveSubscription, type HandlerDefaults, type ResolvedSubscription } from '../core/bus/subscription-options.js';
import { MemoryDeadLetters } from '../memory/dead-letters.js';
import { EntryField } from './entry-codec.js';
import { RedisConsumer, type ConsumerContext } from './redis-consumer.js';
import { DEFAULT_REDIS_PREFIX, resolveRedisUrl } from './redis-options.js';
import { maskUrlCredentials } from '../observability/logger.js';

/** Options of {@link createRedisBus}. */
export interface RedisBusOptions {
  /** `REDIS_URL`. Takes precedence over `addr`. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** `REDIS_ADDR` (`host:port`). */
  addr?: string;
  /** Extra ioredis options (TLS, password, …). */
  redisOptions?: RedisOptions;
  /** Key prefix (`REDIS_EVENT_CHANNEL_PREFIX`); the stream is `${prefix}:stream`. @default 'sagaflow:events' */
  prefix?: string;
  /**
   * Approximate stream length bound (`XADD MAXLEN ~`). Trimming removes the oldest entries whether or
   * not every group has acknowledged them, so size it well above the backlog a slow group may build
   * (see docs/bus.md). Trimmed pending entries are logged at error level when claimed. @default 1000000
   */
  maxLen?: number;
  /** Consumer name in every group; unique per process. @default `${hostname}-${pid}-${random}` */
  consumerName?: string;
  /** Handler invocations in flight at once across subscriptions (`EVENT_BUS_WORKERS`). @default 10 */
  workers?: number;
  /** Entries read per `XREADGROUP` / `XAUTOCLAIM` (`EVENT_PROCESSING_BATCH_SIZE`). @default 100 */
  readCount?: number;
  /**
   * After a read that drained the stream, wait up to this long for the entries in hand to be handled and
   * acknowledged before the next `XREADGROUP`, so a trickle of events is read and acknowledged a few at
   * a time rather than one command each. Bounds the extra latency a new event can see while a slow
   * handler is busy; 0 reads again at once. @default 2
   */
  readCoalesceMs?: number;
  /** `XREADGROUP BLOCK` time. @default 1000 */
  blockMs?: number;
  /** Idle time after which a pending entry of another consumer is claimed. @default 30000 */
  claimIdleMs?: number;
  /** How often to look for idle pending entries. @default claimIdleMs / 2 */
  claimIntervalMs?: number;
  /** How often held entries have their idle time reset. @default claimIdleMs / 3 */
  heartbeatMs?: number;
  /** Defaults for `subscribe` (`EVENT_PROCESSING_TIMEOUT` → `timeoutMs`, retry policy). */
  handlerDefaults?: HandlerDefaults;
  /** @default a new MemoryDeadLetters (use PostgresDeadLetters in production) */
  deadLetters?: DeadLetters;
  /** Validates consumed entries' types and data; unknown or invalid entries are dead-lettered. */
  registry?: EventTypeRegistry;
  maxEventBytes?: number;
  logger?: Logger;
  clock?: Clock;
  sleep?: Sleep;
  random?: () => number;
}

interface Registration {
  sub: ResolvedSubscription;
  handler: EventHandler;
  consumer?: RedisConsumer | undefined;
}

/**
 * Event bus on one Redis stream with a consumer group per subscription group. `publish` resolves once
 * `XADD` is acknowledged; every group reads every entry (filtering by its pattern), consumers in a
 * group share the work, and entries are acknowledged only after success or dead-lettering.
 */
export class RedisEventBus implements EventBus {
  readonly stream: string;
  readonly consumerName: string;
  readonly deadLetters: DeadLetters;
  private readonly url: string;
  private readonly logger: Logger;
  private readonly workers: Semaphore;
  private readonly registrations = new Set<Registration>();
  private readonly connections = new Set<Redis>();
  private commandClient: Redis | undefined;
  private running = false;

  constructor(private readonly options: RedisBusOptions = {}) {
    this.url = resolveRedisUrl(options);
    this.stream = `${options.prefix ?? DEFAULT_REDIS_PREFIX}:stream`;
    this.consumerName = options.consumerName ?? `${hostname()}-${process.pid}-${newId().slice(-8)}`;
    this.deadLetters = options.deadLetters ?? new MemoryDeadLetters();
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'redis-bus', stream: this.stream });
    this.workers = new Semaphore(options.workers ?? 10);
  }

  /** The connection for non-blocking commands (created on first use). */
  get client(): Redis {
    // No auto-pipelining: ioredis keeps at most one auto-pipeline in flight per connection, so a publish
    // issued while a batched XACK is in flight would wait a full round trip behind it (and vice versa).
    // Plain commands are written at once, in order; acks are already batched (AckBatcher) and multi-event
    // publishes use an explicit pipeline.
    if (!this.commandClient) this.commandClient = this.connect('command');
    return this.commandClient;
  }

  async publish(events: EventEnvelope | EventEnvelope[], options: PublishOptions = {}): Promise<void> {
    const list = Array.isArray(events) ? events : [events];
    if (list.length === 0) return;
    const maxLen = String(this.options.maxLen ?? 1_000_000);
    if (list.length === 1) {
      // One event: a plain command, written at once (no pipeline object, no wait behind other commands' replies).
      const e = list[0]!;
      try {
        await this.client.xadd(this.stream, 'MAXLEN', '~', maxLen, '*', EntryField.Event, JSON.stringify(e), EntryField.Key, options.orderingKey ?? e.streamId);
      } catch (err) {
        throw new UnavailableError(`Redis XADD to ${this.stream} failed: ${(err as Error).message}`, { cause: err });
      }
      return;
    }
    const pipeline = this.client.pipeline();
    // Same fields as encodeEntry(), passed inline (no intermediate array per event).
    for (const e of list) pipeline.xadd(this.stream, 'MAXLEN', '~', maxLen, '*', EntryField.Event, JSON.stringify(e), EntryField.Key, options.orderingKey ?? e.streamId);
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw new UnavailableError(`Redis XADD to ${this.stream} failed: ${(err as Error).message}`, { cause: err });
    }
    const failed = (results ?? []).find(([err]) => err !== null);
    if (!results || failed) {
      throw new UnavailableError(`Redis XADD to ${this.stream} failed: ${failed?.[0]?.message ?? 'no reply'}`, { cause: failed?.[0] });
    }
  }

  async subscribe(pattern: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const reg: Registration = { sub: resolveSubscription(pattern, options, this.options.handlerDefaults), handler };
    // The group exists from now on, so events published before start() are kept for it.
    await this.newConsumer(reg).ensureGroup();
    this.registrations.add(reg);
    if (this.running) this.startConsumer(reg);
    return {
      pattern,
      group: reg.sub.group,
      unsubscribe: async () => {
        if (!this.registrations.delete(reg)) return;
        await reg.consumer?.stop(10_000);
        reg.consumer = undefined;
      },
    };
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    for (const reg of this.registrations) this.startConsumer(reg);
  }

  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (!this.running) return this.closeConnections();
    this.running = false;
    await Promise.all([...this.registrations].map(async (reg) => {
      await reg.consumer?.stop(options.drainTimeoutMs ?? 10_000);
      reg.consumer = undefined;
    }));
    await this.closeConnections();
  }

  /** Health probe: `PING`. Rejects with UnavailableError when Redis does not answer in `timeoutMs`. */
  async ping(timeoutMs = 1000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.client.ping(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no reply in ${timeoutMs} ms`)), timeoutMs))),
      ]);
    } catch (err) {
      throw new UnavailableError(`Redis at ${maskUrlCredentials(this.url)} is unavailable: ${(err as Error).message}; check REDIS_URL`, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  /** Test hook: simulates the process dying (no acks, connections dropped); held entries stay pending for others. */
  crash(): void {
    this.running = false;
    for (const reg of this.registrations) reg.consumer?.crash();
    for (const c of this.connections) c.disconnect();
    this.connections.clear();
    this.commandClient = undefined;
  }

  /** Runs one `XAUTOCLAIM` pass for every started subscription now (tests, operators). Returns entries claimed. */
  async claimIdleNow(): Promise<number> {
    let n = 0;
    for (const reg of this.registrations) n += (await reg.consumer?.claimIdle()) ?? 0;
    return n;
  }

  private startConsumer(reg: Registration): void {
    reg.consumer = this.newConsumer(reg);
    reg.consumer.start();
  }

  private newConsumer(reg: Registration): RedisConsumer {
    const o = this.options;
    const claimIdleMs = o.claimIdleMs ?? 30_000;
    const ctx: ConsumerContext = {
      stream: this.stream,
      consumerName: this.consumerName,
      client: this.client,
      // Lazily connected: a consumer used only for ensureGroup never opens it.
      reader: this.connect(`reader:${reg.sub.group}`, { lazyConnect: true, maxRetriesPerRequest: null }),
      readCount: o.readCount ?? 100,
      readCoalesceMs: o.readCoalesceMs ?? 2,
      blockMs: o.blockMs ?? 1000,
      claimIdleMs,
      claimIntervalMs: o.claimIntervalMs ?? Math.max(10, Math.floor(claimIdleMs / 2)),
      heartbeatMs: o.heartbeatMs ?? Math.max(10, Math.floor(claimIdleMs / 3)),
      deadLetters: this.deadLetters,
      registry: o.registry,
      maxEventBytes: o.maxEventBytes,
      workers: this.workers,
      logger: this.logger,
      clock: o.clock ?? systemClock,
      sleep: o.sleep ?? realSleep,
      random: o.random ?? Math.random,
    };
    return new RedisConsumer(ctx, reg.sub, reg.handler);
  }

  private connect(name: string, extra: RedisOptions = {}): Redis {
    const c = new Redis(this.url, { connectionName: `sagaflow:${name}`, ...this.options.redisOptions, ...extra });
    c.on('error', (err: Error) => this.logger.debug({ err, connection: name }, 'redis connection error'));
    c.on('end', () => this.connections.delete(c));
    this.connections.add(c);
    return c;
  }

  private async closeConnections(): Promise<void> {
    const all = [...this.connections];
    this.connections.clear();
    this.commandClient = undefined;
    await Promise.allSettled(all.map((c) => (c.status === 'ready' ? c.quit() : Promise.resolve(c.disconnect()))));
  }
}

/**
 * Creates the Redis Streams bus. Call `start()` to begin consuming; `stop()` drains and closes connections.
 *
 * @example
 * const bus = createRedisBus({ url: process.env.REDIS_URL, prefix: 'sagaflow:events', deadLetters });
 * await bus.subscribe('task.*', handler, { group: 'saga:TaskProcessing', concurrency: 8 });
 * await bus.start();
 */
export function createRedisBus(options: RedisBusOptions = {}): RedisEventBus {
  return new RedisEventBus(options);
}
