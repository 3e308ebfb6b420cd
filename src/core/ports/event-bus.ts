import type { Logger } from 'pino';
import type { EventEnvelope } from '../events/envelope.js';

/** Retry backoff: `delay(attempt) = min(maxMs, initialMs * factor^(attempt-1))`, with full jitter when `jitter`. */
export interface BackoffOptions {
  /** @default 'exponential' */
  type?: 'exponential' | 'fixed';
  /** @default 100 */
  initialMs?: number;
  /** @default 2 */
  factor?: number;
  /** @default 30000 */
  maxMs?: number;
  /** @default true */
  jitter?: boolean;
}

/** What a handler receives beside the event. */
export interface HandlerContext {
  /** 1 on first delivery. */
  attempt: number;
  /** Aborted when the handler times out or the bus stops. */
  signal: AbortSignal;
  /** True once this attempt ran past its timeout (read after the handler returned: it did not succeed). */
  readonly timedOut?: boolean;
  logger: Logger;
}

export type EventHandler = (event: EventEnvelope, context: HandlerContext) => Promise<void> | void;

export interface SubscribeOptions {
  /**
   * Consumer group. Every group sees every event; within a group, instances (processes)
   * compete for events. @default the pattern
   */
  group?: string;
  /** Handler invocations in flight at once for this subscription. @default 1 */
  concurrency?: number;
  /** Attempts before dead-lettering. @default 3 */
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Per-attempt timeout; the handler's signal is aborted and the attempt fails. @default 30000 */
  timeoutMs?: number;
  /** Id recorded in dead letters. @default `${group}` */
  handlerId?: string;
  /**
   * Receive replayed events (`sagaflow events replay --to-bus`: stored events sent again with a `replay` mark
   * in their metadata). Off by default: a handler that did not opt in never sees a replay (acknowledged unseen).
   */
  replay?: boolean;
}

export interface Subscription {
  readonly pattern: string;
  readonly group: string;
  /** Stops delivery to this handler and removes it. */
  unsubscribe(): Promise<void>;
}

export interface PublishOptions {
  /** Key whose events keep their order for each handler. @default event.streamId */
  orderingKey?: string;
}

/**
 * The event bus. `publish` resolves once the transport has accepted the events durably enough
 * for its kind (memory: queued; redis: `XADD` acknowledged; durable mode: appended to the store).
 */
export interface EventBus {
  publish(events: EventEnvelope | EventEnvelope[], options?: PublishOptions): Promise<void>;
  subscribe(pattern: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription>;
  start(): Promise<void>;
  /** Stops taking work, waits up to `drainTimeoutMs` for handlers in flight, then aborts them. */
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
}
