import type { Logger } from 'pino';
import { isNonRetryable, SagaflowError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { Clock } from '../ports/clock.js';
import type { DeadLetters } from '../ports/dead-letters.js';
import type { EventHandler } from '../ports/event-bus.js';
import { backoffDelay } from './backoff.js';
import { HandlerTimeoutError } from './errors.js';
import type { Sleep } from './sleep.js';
import type { ResolvedSubscription } from './subscription-options.js';

/** Everything one delivery needs; shared by every transport. */
export interface DeliveryParams {
  event: EventEnvelope;
  handler: EventHandler;
  subscription: ResolvedSubscription;
  /**
   * Number of the first attempt of this delivery. Memory: 1. Redis: the entry's delivery count, so
   * attempts made by a consumer that died count too.
   * @default 1
   */
  firstAttempt?: number;
  deadLetters: DeadLetters;
  logger: Logger;
  clock: Clock;
  sleep: Sleep;
  random?: () => number;
  /** Aborted when the bus stops: cancels backoff waits and aborts the running handler. */
  stopSignal: AbortSignal;
  /** Wraps each attempt, e.g. to hold a worker-pool permit only while the handler runs (not while backing off). */
  slot?: <T>(fn: () => Promise<T>) => Promise<T>;
  /**
   * Called after the backoff wait, before attempt `nextAttempt`. Return false to abandon the delivery
   * (Redis: the entry was claimed by another consumer or deleted). @default always true
   */
  beforeRetry?: (nextAttempt: number) => Promise<boolean>;
}

/**
 * `handled`: the handler succeeded (ack). `dead-lettered`: parked in dead letters (ack).
 * `abandoned`: stopped or lost ownership mid-way (do not ack; the transport redelivers).
 */
export type DeliveryOutcome = 'handled' | 'dead-lettered' | 'abandoned';

type AttemptResult = { ok: true } | { ok: false; error: unknown };

/**
 * The retry / dead-letter loop used by every transport. Runs the handler with a per-attempt timeout
 * (the handler's signal is aborted and the attempt fails, but the loop never waits for a handler that
 * ignores its signal, so a hanging handler cannot stall a worker), retries with exponential backoff and
 * jitter, and dead-letters after exactly `maxAttempts` attempts, or at once for non-retryable errors
 * ({@link NonRetryableError}, {@link ValidationError}, unknown type).
 */
export async function deliver(params: DeliveryParams): Promise<DeliveryOutcome> {
  const { event, subscription: sub, clock, stopSignal } = params;
  const slot = params.slot ?? (<T>(fn: () => Promise<T>) => fn());
  let attempt = params.firstAttempt ?? 1;
  let firstFailedAt: string | undefined;
  // Child loggers are built only when something logs: they cost more than the rest of a fast delivery.
  let child: Logger | undefined;
  const lazy = (): Logger => (child ??= params.logger.child({ eventId: event.id, eventType: event.type, handlerId: sub.handlerId }));

  if (attempt > sub.maxAttempts) {
    // Delivered more often than allowed without an ack: earlier consumers died mid-handler (poison that crashes).
    const now = clock.now().toISOString();
    const message = `delivered ${attempt - 1} times without completing (consumers stopped mid-handler); maxAttempts is ${sub.maxAttempts}`;
    return park(params, lazy(), { message, code: 'MAX_DELIVERIES' }, attempt - 1, now, now);
  }

  for (;;) {
    if (stopSignal.aborted) return 'abandoned';
    const n = attempt;
    const result = await slot(() => runAttempt(params, n, lazy));
    if (result.ok) return 'handled';
    if (stopSignal.aborted) return 'abandoned';
    const now = clock.now().toISOString();
    firstFailedAt ??= now;
    const err = result.error;
    if (isNonRetryable(err) || attempt >= sub.maxAttempts) {
      lazy().warn({ err, attempt }, isNonRetryable(err) ? 'non-retryable handler failure; dead-lettering' : 'handler failed on the last attempt; dead-lettering');
      return park(params, lazy(), describeError(err), attempt, firstFailedAt, now);
    }
    const delay = backoffDelay(attempt, sub.backoff, params.random);
    lazy().debug({ err, attempt, delayMs: delay }, 'handler failed; retrying after backoff');
    await params.sleep(delay, stopSignal);
    if (stopSignal.aborted) return 'abandoned';
    if (params.beforeRetry && !(await params.beforeRetry(attempt + 1))) return 'abandoned';
    attempt++;
  }
}

async function runAttempt(params: DeliveryParams, attempt: number, log: () => Logger): Promise<AttemptResult> {
  const { event, subscription: sub, stopSignal } = params;
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onStop: (() => void) | undefined;
  // One promise settles the attempt when the timeout fires or the bus stops; the handler's own
  // promise is raced against it, so a handler that ignores its signal cannot hold the worker.
  const cut = new Promise<AttemptResult>((resolve) => {
    onStop = () => {
      controller.abort(stopSignal.reason);
      resolve({ ok: false, error: stopSignal.reason });
    };
    if (stopSignal.aborted) onStop();
    else stopSignal.addEventListener('abort', onStop, { once: true });
    timer = setTimeout(() => {
      const error = new HandlerTimeoutError(sub.handlerId, event.id, sub.timeoutMs);
      controller.abort(error);
      resolve({ ok: false, error });
    }, sub.timeoutMs);
  });
  const run = Promise.resolve()
    .then(() => {
      let logger: Logger | undefined;
      return params.handler(event, {
        attempt,
        signal: controller.signal,
        get logger() {
          return (logger ??= log().child({ attempt }));
        },
      });
    })
    .then(
      (): AttemptResult => ({ ok: true }),
      (error: unknown): AttemptResult => ({ ok: false, error }),
    );
  try {
    return await Promise.race([run, cut]);
  } finally {
    clearTimeout(timer);
    if (onStop) stopSignal.removeEventListener('abort', onStop);
  }
}

async function park(
  params: DeliveryParams,
  log: Logger,
  error: { message: string; code?: string; stack?: string },
  attempts: number,
  firstFailedAt: string,
  lastFailedAt: string,
): Promise<DeliveryOutcome> {
  try {
    await params.deadLetters.add({ handlerId: params.subscription.handlerId, event: params.event, error, attempts, firstFailedAt, lastFailedAt });
    return 'dead-lettered';
  } catch (err) {
    // Not parked: leave the entry unacknowledged so the transport delivers it again.
    log.error({ err }, 'could not write dead letter; leaving the event unacknowledged');
    return 'abandoned';
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
