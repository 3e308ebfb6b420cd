import pino, { type Logger } from 'pino';
import { HandlerTimeoutError } from '../bus/errors.js';
import { ErrorCode, isNonRetryable, SagaflowError, ValidationError } from '../errors.js';
import { toIssues, type EventEnvelope } from '../events/envelope.js';
import type { ClaimedCommand, FailOutcome } from '../ports/work-queue.js';
import type { HandlerDefinition } from './define-handler.js';
import { repliesOf, replyEnvelopes } from './replies.js';
import { startHandlerSpan, stampTrace } from '../tracing/spans.js';

/** Where a worker takes commands from and answers to: the daemon's queue in process, or its HTTP API. */
export interface WorkSource {
  /** Declares the worker (name, handled types); commands that commit from then on are queued for it. */
  register(worker: { name: string; handles: readonly string[]; maxAttempts?: number }): Promise<void>;
  /** Leases up to `max` commands; waits up to `waitMs` for one when none is available. */
  claim(worker: string, options: { max: number; leaseMs: number; waitMs: number; by: string }, signal: AbortSignal): Promise<ClaimedCommand[]>;
  /**
   * Completes a command with its replies (stored with the completion, in one transaction). Throws a
   * {@link ValidationError} for a reply that fails its schema (the command is then dead-lettered) and a
   * {@link WorkLeaseLostError} when the lease went to another worker (nothing stored).
   */
  complete(worker: string, eventId: string, leaseToken: string, replies: readonly EventEnvelope[]): Promise<void>;
  /** Fails an attempt: retried with backoff, or dead-lettered when `final` or out of attempts. */
  fail(worker: string, eventId: string, leaseToken: string, error: { message: string; code?: string }, options: { attempt: number; final?: boolean }): Promise<FailOutcome>;
}

/** A completion or failure came after the command's lease went to another worker; nothing was written. */
export class WorkLeaseLostError extends SagaflowError {
  constructor(worker: string, eventId: string) {
    super(ErrorCode.WorkLeaseLost, `the lease of command ${eventId} for worker "${worker}" ended and the command went to another worker; this answer was not stored`, {
      details: { worker, eventId },
    });
  }
}

/** Options of {@link WorkerLoop}. */
export interface WorkerLoopOptions {
  source: WorkSource;
  handler: HandlerDefinition;
  /** This worker process's name in leases and `status` (e.g. `host:pid`). */
  by: string;
  /** Defaults for what the handler does not set. */
  defaults: { timeoutMs: number; concurrency?: number; maxAttempts?: number };
  /** How long a claim waits for a command before asking again. @default 20000 */
  waitMs?: number;
  /** How long past the attempt's timeout the lease lasts (time to report the outcome). @default 5000 */
  leaseGraceMs?: number;
  logger?: Logger;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err)) || 'failed';

/**
 * Runs one handler against a {@link WorkSource}: claims commands (up to its concurrency), calls `handle`
 * with a timeout, and completes each with its replies or fails it. The same loop serves in-process
 * handlers (the daemon's queue) and remote workers (`sagaflow/worker`, over HTTP): one delivery mechanism.
 */
export class WorkerLoop {
  private readonly logger: Logger;
  private readonly stopController = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly running = new Set<AbortController>();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: WorkerLoopOptions) {
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ worker: options.handler.name });
  }

  private get timeoutMs(): number {
    return this.options.handler.timeoutMs ?? this.options.defaults.timeoutMs;
  }

  private get concurrency(): number {
    return this.options.handler.concurrency ?? this.options.defaults.concurrency ?? 8;
  }

  /** Registers the worker, then claims and handles commands until {@link stop}. */
  async start(): Promise<void> {
    const { handler } = this.options;
    const maxAttempts = handler.maxAttempts ?? this.options.defaults.maxAttempts;
    await this.options.source.register({ name: handler.name, handles: handler.handles, ...(maxAttempts === undefined ? {} : { maxAttempts }) });
    this.loop ??= this.run();
  }

  /** Stops claiming; lets commands in flight finish for up to `drainTimeoutMs`, then aborts them (they are retried). */
  async stop({ drainTimeoutMs = 10_000 } = {}): Promise<void> {
    this.stopController.abort();
    await this.loop;
    if (this.inFlight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      const drained = Promise.all(this.inFlight).then(() => true);
      const late = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), drainTimeoutMs)));
      if (!(await Promise.race([drained, late]))) for (const c of this.running) c.abort(new Error('worker stopping'));
      clearTimeout(timer);
      await Promise.all(this.inFlight);
    }
  }

  private async run(): Promise<void> {
    const { source, handler, by } = this.options;
    const signal = this.stopController.signal;
    // One listener for the loop's life (one per wait for a free slot piled up on the signal until stop).
    const stopped = new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
    let failures = 0;
    while (!signal.aborted) {
      const free = this.concurrency - this.inFlight.size;
      if (free <= 0) {
        await Promise.race([...this.inFlight, stopped]);
        continue;
      }
      let claimed: ClaimedCommand[];
      try {
        claimed = await source.claim(handler.name, { max: free, leaseMs: this.timeoutMs + (this.options.leaseGraceMs ?? 5000), waitMs: this.options.waitMs ?? 20_000, by }, signal);
        failures = 0;
      } catch (err) {
        if (signal.aborted) return;
        failures++;
        this.logger.warn({ err: message(err), failures }, 'claiming commands failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(failures, 6))));
        continue;
      }
      for (const c of claimed) {
        const p = this.handle(c).catch((err: unknown) => this.logger.error({ err: message(err), eventId: c.command.id }, 'reporting a command outcome failed; its lease will end and it is retried'));
        this.inFlight.add(p);
        void p.finally(() => this.inFlight.delete(p));
      }
    }
  }

  private async handle(c: ClaimedCommand): Promise<void> {
    const { source, handler } = this.options;
    const { command, attempt, leaseToken } = c;
    const fail = async (err: unknown, final: boolean) => {
      const error = { message: message(err), ...(err instanceof SagaflowError ? { code: err.code } : {}) };
      const outcome = await source.fail(handler.name, command.id, leaseToken, error, { attempt, final });
      this.logger.warn({ eventId: command.id, type: command.type, attempt, outcome, err: error.message }, `command failed: ${outcome}`);
    };
    let data = command.data;
    if (handler.schema) {
      const parsed = handler.schema.safeParse(command.data);
      if (!parsed.success) return fail(new ValidationError(`command ${command.type} for worker ${handler.name}`, toIssues(parsed.error, 'data')), true);
      data = parsed.data;
    }
    const span = startHandlerSpan(handler.name, command, attempt);
    const controller = new AbortController();
    this.running.add(controller);
    const timer = setTimeout(() => controller.abort(new HandlerTimeoutError(handler.name, command.id, this.timeoutMs)), this.timeoutMs);
    let result: unknown;
    try {
      const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true }));
      aborted.catch(() => undefined); // settled by the race, or never observed
      result = await Promise.race([
        Promise.resolve().then(() => span.run(() => handler.handle({ ...command, data }, { attempt, idempotencyKey: command.id, signal: controller.signal, logger: this.logger }))),
        aborted,
      ]);
    } catch (err) {
      span.fail(err);
      return fail(err, isNonRetryable(err));
    } finally {
      span.end();
      clearTimeout(timer);
      this.running.delete(controller);
    }
    let replies: EventEnvelope[];
    try {
      // Replies carry the handler span's trace context (the command's, when nothing records).
      replies = replyEnvelopes(handler.name, stampTrace(command, span), repliesOf(result));
    } catch (err) {
      return fail(err, true);
    }
    try {
      await source.complete(handler.name, command.id, leaseToken, replies);
    } catch (err) {
      if (err instanceof ValidationError) {
        this.logger.error({ eventId: command.id, err: err.message }, 'reply rejected; the command is dead-lettered');
      } else if (err instanceof WorkLeaseLostError) {
        this.logger.warn({ eventId: command.id }, err.message);
      } else {
        throw err;
      }
    }
  }
}
