import type { Logger } from 'pino';
import { isNonRetryable, SagaflowError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { Clock } from '../ports/clock.js';
import type { DeadLetters } from '../ports/dead-letters.js';
import type { EventHandler, HandlerContext } from '../ports/event-bus.js';
import { AttemptTracker, type Cuttable } from './attempt-tracker.js';
import { backoffDelay } from './backoff.js';
import { HandlerTimeoutError } from './errors.js';
import type { Semaphore } from './semaphore.js';
import type { Sleep } from './sleep.js';
import type { ResolvedSubscription } from './subscription-options.js';

/**
 * `handled`: the handler succeeded (ack). `dead-lettered`: parked in dead letters (ack).
 * `abandoned`: stopped or lost ownership mid-way (do not ack; the transport redelivers).
 */
export type DeliveryOutcome = 'handled' | 'dead-lettered' | 'abandoned';

/** Receives the outcome of {@link Deliverer.deliver}, with the caller's tag (no closure per delivery). */
export interface DeliverySink<T> {
  delivered(outcome: DeliveryOutcome, tag: T): void;
  /** Used when `deliver` got no `beforeRetry`: see {@link DeliveryParams.beforeRetry}. */
  beforeRetry?(nextAttempt: number, tag: T): Promise<boolean>;
}

/** Called after the backoff wait, before attempt `nextAttempt`; false abandons the delivery. */
export type BeforeRetry = (nextAttempt: number) => Promise<boolean>;

/** What a {@link Deliverer} needs; one per subscription. */
export interface DelivererOptions {
  handler: EventHandler;
  subscription: ResolvedSubscription;
  deadLetters: DeadLetters;
  logger: Logger;
  clock: Clock;
  sleep: Sleep;
  random?: (() => number) | undefined;
  /** Worker pool: a permit is held only while the handler runs (not while backing off). */
  workers?: Semaphore | undefined;
  /** Generic alternative to `workers`: wraps each attempt. */
  slot?: (<T>(fn: () => Promise<T>) => Promise<T>) | undefined;
}

/** Everything one delivery needs; shared by every transport. */
export interface DeliveryParams extends DelivererOptions {
  event: EventEnvelope;
  /**
   * Number of the first attempt of this delivery. Memory: 1. Redis: the entry's delivery count, so
   * attempts made by a consumer that died count too.
   * @default 1
   */
  firstAttempt?: number;
  /** Aborted when the bus stops: cancels backoff waits and aborts the running handler. */
  stopSignal: AbortSignal;
  /**
   * Called after the backoff wait, before attempt `nextAttempt`. Return false to abandon the delivery
   * (Redis: the entry was claimed by another consumer or deleted). @default always true
   */
  beforeRetry?: BeforeRetry;
}

/**
 * The retry / dead-letter loop used by every transport, bound to one subscription. Runs the handler
 * with a per-attempt timeout (the handler's signal is aborted and the attempt fails, but the loop never
 * waits for a handler that ignores its signal, so a hanging handler cannot stall a worker), retries
 * with exponential backoff and jitter, and dead-letters after exactly `maxAttempts` attempts, or at
 * once for non-retryable errors ({@link NonRetryableError}, {@link ValidationError}, unknown type).
 *
 * Built for the hot path: a successful first attempt costs one small object and the handler's own
 * promise. Timeouts and stop-cancellation go through an {@link AttemptTracker} (one timer and one
 * abort listener per stop signal, not per attempt) and the handler's `AbortSignal` is created only
 * when the handler reads `context.signal`.
 */
export class Deliverer {
  constructor(readonly options: DelivererOptions) {}

  /**
   * Delivers `event`; `sink.delivered(outcome, tag)` is called exactly once. The handler is invoked
   * asynchronously (in a microtask), never inside this call.
   */
  deliver<T>(event: EventEnvelope, stopSignal: AbortSignal, sink: DeliverySink<T>, tag: T, firstAttempt = 1, beforeRetry?: BeforeRetry): void {
    new Delivery(this.options, event, stopSignal, sink, tag, firstAttempt, beforeRetry).start();
  }
}

/** Runs one delivery through the shared retry loop; see {@link Deliverer}. */
export function deliver(params: DeliveryParams): Promise<DeliveryOutcome> {
  return new Promise((resolve) => {
    new Deliverer(params).deliver(params.event, params.stopSignal, { delivered: resolve }, undefined, params.firstAttempt ?? 1, params.beforeRetry);
  });
}

class Delivery<T> {
  private firstFailedAt: string | undefined;
  // Child loggers are built only when something logs: they cost more than the rest of a fast delivery.
  private child: Logger | undefined;
  private releaseSlot: (() => void) | undefined;
  private holdsPermit = false;

  constructor(
    readonly o: DelivererOptions,
    readonly event: EventEnvelope,
    readonly stopSignal: AbortSignal,
    private readonly sink: DeliverySink<T>,
    private readonly tag: T,
    private attempt: number,
    private readonly beforeRetry: BeforeRetry | undefined,
  ) {}

  log(): Logger {
    return (this.child ??= this.o.logger.child({ eventId: this.event.id, eventType: this.event.type, handlerId: this.o.subscription.handlerId }));
  }

  start(): void {
    const sub = this.o.subscription;
    // A replayed event reaches only the handlers that opted in; the others acknowledge it unseen.
    if (this.event.metadata.replay !== undefined && !sub.replay) return this.done('handled');
    if (this.attempt > sub.maxAttempts) {
      // Delivered more often than allowed without an ack: earlier consumers died mid-handler (poison that crashes).
      const now = this.o.clock.now().toISOString();
      const message = `delivered ${this.attempt - 1} times without completing (consumers stopped mid-handler); maxAttempts is ${sub.maxAttempts}`;
      void this.park({ message, code: 'MAX_DELIVERIES' }, this.attempt - 1, now, now).then((outcome) => this.done(outcome));
      return;
    }
    this.begin();
  }

  /** Takes a worker permit (or the slot) and launches the attempt. */
  private begin(): void {
    if (this.stopSignal.aborted) return this.done('abandoned');
    const { workers, slot } = this.o;
    if (slot) {
      void slot(() => new Promise<void>((resolve) => {
        this.releaseSlot = resolve;
        this.launch();
      }));
    } else if (workers && !workers.tryAcquire()) {
      void workers.acquire().then(() => {
        this.holdsPermit = true;
        this.launch();
      });
    } else {
      this.holdsPermit = workers !== undefined;
      this.launch();
    }
  }

  private launch(): void {
    const a = new Attempt(this, this.attempt);
    // Cuts the attempt at once (synchronously) when the bus already stopped.
    AttemptTracker.for(this.stopSignal).add(a, this.o.subscription.timeoutMs);
    if (!a.settled) schedule(a);
  }

  /** The attempt settled (handler finished, timed out, or the bus stopped). */
  attemptDone(ok: boolean, error: unknown): void {
    if (this.holdsPermit) {
      this.holdsPermit = false;
      this.o.workers!.release();
    }
    if (this.releaseSlot) {
      const r = this.releaseSlot;
      this.releaseSlot = undefined;
      r();
    }
    if (ok) return this.done('handled');
    this.afterFailure(error).then(
      (outcome) => outcome && this.done(outcome),
      (err: unknown) => {
        this.log().error({ err }, 'delivery failed unexpectedly; leaving the event unacknowledged');
        this.done('abandoned');
      },
    );
  }

  /** Dead-letters, abandons, or waits out the backoff and starts the next attempt (returns undefined then). */
  private async afterFailure(err: unknown): Promise<DeliveryOutcome | undefined> {
    const { subscription: sub, clock } = this.o;
    if (this.stopSignal.aborted) return 'abandoned';
    const now = clock.now().toISOString();
    this.firstFailedAt ??= now;
    const attempt = this.attempt;
    if (isNonRetryable(err) || attempt >= sub.maxAttempts) {
      this.log().warn({ err, attempt }, isNonRetryable(err) ? 'non-retryable handler failure; dead-lettering' : 'handler failed on the last attempt; dead-lettering');
      return this.park(describeError(err), attempt, this.firstFailedAt, now);
    }
    const delay = backoffDelay(attempt, sub.backoff, this.o.random);
    this.log().debug({ err, attempt, delayMs: delay }, 'handler failed; retrying after backoff');
    await this.o.sleep(delay, this.stopSignal);
    if (this.stopSignal.aborted) return 'abandoned';
    if (this.beforeRetry && !(await this.beforeRetry(attempt + 1))) return 'abandoned';
    if (!this.beforeRetry && this.sink.beforeRetry && !(await this.sink.beforeRetry(attempt + 1, this.tag))) return 'abandoned';
    this.attempt = attempt + 1;
    this.begin();
    return undefined;
  }

  private async park(error: { message: string; code?: string; stack?: string }, attempts: number, firstFailedAt: string, lastFailedAt: string): Promise<DeliveryOutcome> {
    try {
      await this.o.deadLetters.add({ handlerId: this.o.subscription.handlerId, event: this.event, error, attempts, firstFailedAt, lastFailedAt });
      return 'dead-lettered';
    } catch (err) {
      // Not parked: leave the entry unacknowledged so the transport delivers it again.
      this.log().error({ err }, 'could not write dead letter; leaving the event unacknowledged');
      return 'abandoned';
    }
  }

  private done(outcome: DeliveryOutcome): void {
    this.sink.delivered(outcome, this.tag);
  }
}

/** One handler invocation: the handler's context, and a node in the {@link AttemptTracker}. */
class Attempt implements Cuttable, HandlerContext {
  prev: Cuttable | undefined = undefined;
  next: Cuttable | undefined = undefined;
  deadline = 0;
  list: Cuttable['list'] = undefined;
  settled = false;
  private controller: AbortController | undefined = undefined;
  private cutReason: unknown = undefined;
  private childLogger: Logger | undefined = undefined;

  constructor(
    private readonly delivery: Delivery<unknown>,
    readonly attempt: number,
  ) {}

  /** Created on first read: most handlers never look at it. Already aborted when read after a cut. */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.cutReason !== undefined) this.controller.abort(this.cutReason);
    }
    return this.controller.signal;
  }

  get timedOut(): boolean {
    return this.cutReason instanceof HandlerTimeoutError;
  }

  get logger(): Logger {
    return (this.childLogger ??= this.delivery.log().child({ attempt: this.attempt }));
  }

  invoke(): void {
    if (this.settled) return;
    const d = this.delivery;
    let result: Promise<void> | void;
    try {
      result = d.o.handler(d.event, this);
    } catch (error) {
      this.finish(false, error);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      result.then(
        () => this.finish(true, undefined),
        (error: unknown) => this.finish(false, error),
      );
    } else this.finish(true, undefined);
  }

  private finish(ok: boolean, error: unknown): void {
    if (this.settled) return; // already cut by timeout or stop: the late result is ignored
    this.settled = true;
    AttemptTracker.for(this.delivery.stopSignal).remove(this);
    this.delivery.attemptDone(ok, error);
  }

  cut(timedOut: boolean, reason: unknown): void {
    if (this.settled) return;
    this.settled = true;
    const d = this.delivery;
    const error = timedOut ? new HandlerTimeoutError(d.o.subscription.handlerId, d.event.id, d.o.subscription.timeoutMs) : reason;
    this.cutReason = error ?? new Error('attempt cut');
    this.controller?.abort(this.cutReason);
    d.attemptDone(false, error);
  }
}

// Handlers start in a microtask, batched: no promise chain per attempt, and a handler that returns
// synchronously cannot recurse through the transport's pump (it continues in this loop instead).
let startQueue: Attempt[] = [];
let flushScheduled = false;

function schedule(a: Attempt): void {
  startQueue.push(a);
  if (!flushScheduled) {
    flushScheduled = true;
    queueMicrotask(flushStarts);
  }
}

function flushStarts(): void {
  const queue = startQueue;
  try {
    for (let i = 0; i < queue.length; i++) {
      const a = queue[i]!;
      try {
        a.invoke();
      } catch (err) {
        // A transport's continuation threw; keep starting the others.
        a.logger.error({ err }, 'delivery continuation failed');
      }
    }
  } finally {
    startQueue = [];
    flushScheduled = false;
  }
}

/** Message, code and stack of a thrown value, for dead letters. */
export function describeError(err: unknown): { message: string; code?: string; stack?: string } {
  if (err instanceof Error) {
    const out: { message: string; code?: string; stack?: string } = { message: err.message || err.name };
    const code = err instanceof SagaflowError ? err.code : (err as { code?: unknown }).code;
    if (typeof code === 'string') out.code = code;
    if (err.stack) out.stack = err.stack;
    return out;
  }
  return { message: typeof err === 'string' ? err : JSON.stringify(err) ?? String(err) };
}
