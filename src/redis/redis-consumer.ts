import { setMaxListeners } from 'node:events';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import type { Clock } from '../core/ports/clock.js';
import type { DeadLetters } from '../core/ports/dead-letters.js';
import type { EventHandler } from '../core/ports/event-bus.js';
import { cachedMatcher } from '../core/bus/cached-matcher.js';
import { Deliverer, describeError, type DeliveryOutcome, type DeliverySink } from '../core/bus/deliver.js';
import { KeyedQueue } from '../core/bus/keyed-queue.js';
import type { Semaphore } from '../core/bus/semaphore.js';
import type { Sleep } from '../core/bus/sleep.js';
import type { ResolvedSubscription } from '../core/bus/subscription-options.js';
import { AckBatcher, type AckWaiter } from './ack-batcher.js';
import { decodeEntry, malformedStandIn } from './entry-codec.js';

/** Settings a consumer shares with its bus. */
export interface ConsumerContext {
  stream: string;
  consumerName: string;
  client: Redis;
  /** A dedicated connection for the blocking `XREADGROUP`. */
  reader: Redis;
  readCount: number;
  /** After a short read (the stream is drained), wait up to this long for the work in hand to finish before reading again. 0 = read at once. */
  readCoalesceMs: number;
  blockMs: number;
  claimIdleMs: number;
  claimIntervalMs: number;
  heartbeatMs: number;
  deadLetters: DeadLetters;
  registry: EventTypeRegistry | undefined;
  maxEventBytes: number | undefined;
  workers: Semaphore;
  logger: Logger;
  clock: Clock;
  sleep: Sleep;
  random: () => number;
}

/** An entry this consumer holds (queued or in flight) until it is acknowledged or given up. */
class Held implements AckWaiter {
  constructor(
    readonly consumer: RedisConsumer,
    readonly id: string,
    readonly key: string,
    readonly event: EventEnvelope,
    readonly deliveries: number,
  ) {}

  acked(): void {
    this.consumer.forget(this.id);
  }
}

type RawEntry = [id: string, fields: string[]];

/**
 * One subscription's consumer in its Redis consumer group: reads new entries (`XREADGROUP >`),
 * claims entries idle in dead consumers' pending lists (`XAUTOCLAIM`), keeps its own held entries
 * fresh (`XCLAIM … JUSTID` heartbeat, so a slow handler or a backoff wait is not mistaken for a dead
 * consumer), and acknowledges (`XACK`) only after the handler succeeded or the entry was dead-lettered.
 */
export class RedisConsumer implements DeliverySink<Held> {
  private readonly queue = new KeyedQueue<Held>();
  private readonly held = new Set<string>();
  private inFlight = 0;
  private running = false;
  private crashed = false;
  private readonly stopController = new AbortController();
  private readonly matches: (type: string) => boolean;
  private loops: Promise<void>[] = [];
  private wake: (() => void) | undefined;
  private onSettled: (() => void) | undefined;
  private idleWaiters: Array<() => void> = [];
  private claimCursor = '0-0';
  private readonly log: Logger;
  private readonly deliverer: Deliverer;
  private readonly acks: AckBatcher;

  constructor(
    private readonly ctx: ConsumerContext,
    readonly sub: ResolvedSubscription,
    private readonly handler: EventHandler,
  ) {
    // Every in-flight attempt and backoff wait listens on this signal.
    setMaxListeners(0, this.stopController.signal);
    this.matches = cachedMatcher(sub.pattern);
    this.log = ctx.logger.child({ group: sub.group, consumer: ctx.consumerName });
    this.deliverer = new Deliverer({
      handler,
      subscription: sub,
      deadLetters: ctx.deadLetters,
      logger: this.log,
      clock: ctx.clock,
      sleep: ctx.sleep,
      random: ctx.random,
      workers: ctx.workers,
    });
    this.acks = new AckBatcher(ctx.client, ctx.stream, sub.group, this.log);
  }

  /** Creates the consumer group if needed; new groups start at the end of the stream. */
  async ensureGroup(startId = '$'): Promise<void> {
    try {
      await this.ctx.client.xgroup('CREATE', this.ctx.stream, this.sub.group, startId, 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loops = [this.readLoop(), this.claimLoop(), this.heartbeatLoop()];
  }

  /** Stops reading, waits up to `drainTimeoutMs` for handlers, then aborts them. Unfinished entries stay pending for others to claim. */
  async stop(drainTimeoutMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake?.();
    this.onSettled?.();
    this.ctx.reader.disconnect();
    if (this.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, drainTimeoutMs))),
      ]);
      clearTimeout(timer);
    }
    this.stopController.abort(new Error('event bus stopped'));
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    await Promise.allSettled(this.loops);
    await this.acks.drain();
  }

  /** Test hook: dies without acknowledging anything; held entries are left for other consumers to claim. */
  crash(): void {
    this.crashed = true;
    this.running = false;
    this.stopController.abort(new Error('consumer crashed'));
    this.wake?.();
    this.onSettled?.();
    this.ctx.reader.disconnect();
  }

  private async readLoop(): Promise<void> {
    const { reader, stream, readCount, blockMs } = this.ctx;
    let failures = 0;
    while (this.running) {
      // Backpressure: read more only when what is held locally falls below one batch.
      if (this.queue.size + this.inFlight >= readCount) {
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      try {
        const res = (await reader.xreadgroup('GROUP', this.sub.group, this.ctx.consumerName, 'COUNT', readCount, 'BLOCK', blockMs, 'STREAMS', stream, '>')) as
          | Array<[string, RawEntry[]]>
          | null;
        failures = 0;
        let got = 0;
        if (res) {
          for (const [, entries] of res) {
            got += entries.length;
            for (const [id, fields] of entries) this.accept(id, fields, 1);
          }
        }
        // Caught up with the stream: let the work in hand finish and be acknowledged before the next read,
        // so a trickle of events is read (and acked) a few at a time rather than one XREADGROUP each.
        if (got < readCount && this.ctx.readCoalesceMs > 0 && this.held.size > 0 && this.running) await this.settled(this.ctx.readCoalesceMs);
      } catch (err) {
        if (!this.running) return;
        failures++;
        if (String((err as Error).message).includes('NOGROUP')) {
          // The stream or group vanished (Redis restarted without persistence, or keys deleted): recreate from the start.
          await this.ensureGroup('0').catch(() => undefined);
        } else this.log.warn({ err }, 'XREADGROUP failed; retrying');
        await this.ctx.sleep(Math.min(2000, 50 * 2 ** Math.min(failures, 6)), this.stopController.signal);
      }
    }
  }

  /** Resolves when nothing is held any more (all handled and acknowledged), after `ms`, or on stop. */
  private settled(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.onSettled = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.onSettled = done;
    });
  }

  private async claimLoop(): Promise<void> {
    while (this.running) {
      await this.ctx.sleep(this.ctx.claimIntervalMs, this.stopController.signal);
      if (!this.running) return;
      try {
        await this.claimIdle();
        await this.removeDeadConsumers();
      } catch (err) {
        if (this.running) this.log.warn({ err }, 'XAUTOCLAIM failed; retrying next interval');
      }
    }
  }

  /**
   * Removes consumers of this group that hold nothing and were idle far longer than the claim limit (dead
   * daemons, whose entries were claimed): a group of a long-running cluster otherwise collects one consumer
   * per restart. Harmless to a live one: Redis recreates a consumer at its next read.
   */
  async removeDeadConsumers(): Promise<number> {
    const { client, stream, claimIdleMs } = this.ctx;
    const limit = 10 * claimIdleMs;
    const raw = (await client.xinfo('CONSUMERS', stream, this.sub.group)) as unknown[][];
    let removed = 0;
    for (const fields of raw) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < fields.length; i += 2) info.set(String(fields[i]), fields[i + 1]);
      const name = String(info.get('name'));
      if (name === this.ctx.consumerName || Number(info.get('pending')) !== 0 || Number(info.get('idle')) < limit) continue;
      await client.xgroup('DELCONSUMER', stream, this.sub.group, name);
      removed++;
    }
    if (removed > 0) this.log.info({ removed }, 'removed idle consumers that held nothing from the group');
    return removed;
  }

  /** Claims entries idle longer than `claimIdleMs` (their consumer died) and processes them with their delivery counts. */
  async claimIdle(): Promise<number> {
    const { client, stream, claimIdleMs, readCount } = this.ctx;
    if (this.queue.size + this.inFlight >= readCount) return 0;
    const res = (await client.xautoclaim(stream, this.sub.group, this.ctx.consumerName, claimIdleMs, this.claimCursor, 'COUNT', readCount)) as [
      string,
      Array<RawEntry | null>,
      string[]?,
    ];
    this.claimCursor = res[0];
    const entries = res[1].filter((e): e is RawEntry => e !== null);
    const deleted = res[2] ?? [];
    if (deleted.length > 0) {
      // Trimmed by MAXLEN ~ while still pending: the content is gone. Redis drops them from the pending list.
      this.log.error({ ids: deleted.slice(0, 20), count: deleted.length }, 'pending entries were trimmed before being processed (raise maxLen)');
    }
    if (entries.length === 0) return 0;
    const counts = await this.deliveryCounts(entries[0]![0], entries.at(-1)![0], entries.length);
    for (const [id, fields] of entries) this.accept(id, fields, counts.get(id) ?? 1);
    return entries.length;
  }

  private async deliveryCounts(first: string, last: string, n: number): Promise<Map<string, number>> {
    const rows = (await this.ctx.client.xpending(this.ctx.stream, this.sub.group, first, last, n * 2, this.ctx.consumerName)) as Array<
      [string, string, number, number]
    >;
    return new Map(rows.map(([id, , , count]) => [id, Number(count)]));
  }

  private async heartbeatLoop(): Promise<void> {
    while (this.running) {
      await this.ctx.sleep(this.ctx.heartbeatMs, this.stopController.signal);
      if (!this.running || this.held.size === 0) continue;
      try {
        // JUSTID: resets the idle time without bumping the delivery count.
        await this.ctx.client.xclaim(this.ctx.stream, this.sub.group, this.ctx.consumerName, 0, ...this.held, 'JUSTID');
      } catch (err) {
        if (this.running) this.log.warn({ err }, 'heartbeat XCLAIM failed');
      }
    }
  }

  /** Queues a read or claimed entry for delivery (acknowledging unseen the ones outside this group's pattern). */
  private accept(id: string, fields: string[], deliveries: number): void {
    if (this.held.has(id) || this.crashed) return;
    const decoded = decodeEntry(fields, { registry: this.ctx.registry, maxEventBytes: this.ctx.maxEventBytes });
    if (!decoded.ok) {
      void this.parkMalformed(id, decoded.raw, decoded.error);
      return;
    }
    if (!this.matches(decoded.event.type)) {
      // Every group reads the whole stream; entries outside this group's pattern are acknowledged unseen.
      this.acks.add(id);
      return;
    }
    this.held.add(id);
    this.queue.push(decoded.key, new Held(this, id, decoded.key, decoded.event, deliveries));
    this.pump();
  }

  private async parkMalformed(id: string, raw: string, error: unknown): Promise<void> {
    const now = this.ctx.clock.now();
    this.log.warn({ entryId: id, err: error }, 'malformed stream entry; dead-lettering and acknowledging');
    try {
      await this.ctx.deadLetters.add({
        handlerId: this.sub.handlerId,
        event: malformedStandIn(id, this.ctx.stream, raw, now),
        error: describeError(error),
        attempts: 1,
        firstFailedAt: now.toISOString(),
        lastFailedAt: now.toISOString(),
      });
      this.acks.add(id);
    } catch (err) {
      this.log.error({ err, entryId: id }, 'could not dead-letter malformed entry; it stays pending');
    }
  }

  private pump(): void {
    while (this.running && this.inFlight < this.sub.concurrency) {
      const next = this.queue.take();
      if (!next) return;
      this.inFlight++;
      const h = next.item;
      this.deliverer.deliver(h.event, this.stopController.signal, this, h, h.deliveries);
    }
  }

  /** @internal Before a retry: XCLAIM (without JUSTID) bumps the delivery count, so the count in Redis equals the attempt number. */
  async beforeRetry(_nextAttempt: number, h: Held): Promise<boolean> {
    const claimed = (await this.ctx.client.xclaim(this.ctx.stream, this.sub.group, this.ctx.consumerName, 0, h.id)) as unknown[];
    return claimed.length > 0;
  }

  /**
   * @internal A delivery ended. The key and the concurrency slot are freed now; the entry stays held
   * (heartbeated, and awaited by `stop`) until its batched XACK is answered. XACKs go out on one
   * connection in order, so a later entry of a key is never acknowledged while an earlier one is not.
   */
  delivered(outcome: DeliveryOutcome, h: Held): void {
    if (!this.crashed && outcome !== 'abandoned') this.acks.add(h.id, h);
    else this.forget(h.id);
    this.queue.release(h.key);
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    this.pump();
    if (this.queue.size + this.inFlight < this.ctx.readCount) this.wake?.();
  }

  /** @internal The entry is acknowledged or given up. */
  forget(id: string): void {
    this.held.delete(id);
    if (this.held.size === 0) this.onSettled?.();
  }
}
