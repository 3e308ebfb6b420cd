import { backoffDelay, resolveBackoff, type ResolvedBackoff } from '../core/bus/backoff.js';
import { ErrorCode, ValidationError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { BackoffOptions } from '../core/ports/event-bus.js';
import type { ClaimedCommand, FailOutcome, WorkerState, WorkQueue } from '../core/ports/work-queue.js';
import { isValidWorkerName } from '../core/worker/define-handler.js';
import { WorkLeaseLostError, type WorkSource } from '../core/worker/worker-loop.js';
import { isValidPattern } from '../core/events/pattern.js';
import type { WorkWaiters } from '../runtime/work-waiters.js';
import type { WorkHandOff } from '../runtime/worker-feed.js';
import type { EarlyCommands } from '../runtime/early-commands.js';
import type { ReplySteps } from '../runtime/reply-steps.js';

/** Options of {@link WorkService}. */
export interface WorkServiceOptions {
  queue: WorkQueue;
  waiters: WorkWaiters;
  /** Checks replies as the log would (envelope, registered schema, size) and returns them; throws {@link ValidationError}. */
  validate: (streamId: string, events: EventEnvelope[]) => EventEnvelope[];
  /** Called after replies were stored (wakes the daemon's readers of the log). */
  onAppended: () => void;
  /** Attempts per command when a worker does not say. */
  maxAttempts: number;
  backoff: BackoffOptions;
  /** Commands handed before their work items were recorded (ADR 0018): their completion records them. */
  early?: EarlyCommands;
  /** Saga steps a completion applies with its reply (ADR 0020; the daemon's, when it runs the saga reader). */
  replySteps?: ReplySteps;
  /** Each attempt's end, for metrics: the command's type, the worker, and how it ended. */
  onOutcome?: (outcome: { worker: string; type: string; status: 'success' | 'error' | 'timeout' }) => void;
}

interface WaitingClaim {
  max: number;
  leaseMs: number;
  by: string;
  /** Taken by the worker feed, which will `give` it commands (or none). */
  reserved: boolean;
  give: (commands: ClaimedCommand[]) => void;
}

/** Bounds of what a worker may ask for in one claim. */
const MAX_CLAIM = 100;
const MAX_LEASE_MS = 3_600_000;
const MAX_WAIT_MS = 30_000; // under the HTTP server's request timeout (60 s)
/** How long a claim that found the queue drained is trusted without a notification (a lease ending, a retry due). */
const DRAINED_FOR_MS = 1000;

const check = (what: string, ok: boolean, path: string, message: string) => {
  if (!ok) throw new ValidationError(what, [{ path, message }]);
};

/**
 * The daemon's side of worker delivery: in-process worker loops call it directly, remote workers through the
 * HTTP API (`/v1/workers/...`). Claims wait (long-poll) until the worker feed records a command; replies are
 * checked against the event types' schemas before they are stored, and a command whose reply fails them is
 * dead-lettered with the field named.
 */
export class WorkService implements WorkSource, WorkHandOff {
  private readonly backoff: ResolvedBackoff;
  /** Claims waiting here for a command, per worker, oldest first (the worker feed hands them new ones). */
  private readonly waiting = new Map<string, WaitingClaim[]>();
  /**
   * Per worker, the wake-up generation at which a claim last found fewer commands than it asked for, and when:
   * until a notification (commands recorded that were not handed over) or a second has passed, the queue holds
   * nothing more for it, so the next claim waits without asking the database (after every handed-over command,
   * the worker's loop claims again: that query would find nothing).
   */
  private readonly drained = new Map<string, { generation: number; at: number }>();

  constructor(private readonly options: WorkServiceOptions) {
    this.backoff = resolveBackoff(options.backoff);
  }

  async register(worker: { name: string; handles: readonly string[]; maxAttempts?: number }): Promise<void> {
    const what = 'worker registration';
    check(what, isValidWorkerName(worker.name), 'name', 'is 1-100 characters of letters, digits and _ . : -');
    check(what, Array.isArray(worker.handles) && worker.handles.length > 0 && worker.handles.length <= 100, 'handles', 'lists 1-100 event types or patterns');
    worker.handles.forEach((p, i) => check(what, typeof p === 'string' && isValidPattern(p), `handles.${i}`, `"${String(p)}" is not an event type or pattern`));
    const maxAttempts = worker.maxAttempts ?? this.options.maxAttempts;
    check(what, Number.isInteger(maxAttempts) && maxAttempts >= 1 && maxAttempts <= 1000, 'maxAttempts', 'is an integer from 1 to 1000');
    await this.options.queue.register({ name: worker.name, handles: worker.handles, maxAttempts });
  }

  async claim(worker: string, options: { max: number; leaseMs: number; waitMs: number; by: string }, signal?: AbortSignal): Promise<ClaimedCommand[]> {
    const what = 'claim';
    check(what, Number.isInteger(options.max) && options.max >= 1 && options.max <= MAX_CLAIM, 'max', `is an integer from 1 to ${MAX_CLAIM}`);
    check(what, Number.isInteger(options.leaseMs) && options.leaseMs >= 100 && options.leaseMs <= MAX_LEASE_MS, 'leaseMs', `is an integer from 100 to ${MAX_LEASE_MS}`);
    check(what, Number.isInteger(options.waitMs) && options.waitMs >= 0 && options.waitMs <= MAX_WAIT_MS, 'waitMs', `is an integer from 0 to ${MAX_WAIT_MS}`);
    const deadline = performance.now() + options.waitMs;
    for (;;) {
      const generation = this.options.waiters.generation(worker);
      const last = this.drained.get(worker);
      const asked = !(last && last.generation === generation && performance.now() - last.at < DRAINED_FOR_MS);
      const got = asked ? await this.options.queue.claim(worker, options) : [];
      if (asked) {
        if (got.length < options.max) this.drained.set(worker, { generation, at: performance.now() });
        else this.drained.delete(worker);
      }
      const left = deadline - performance.now();
      if (got.length > 0 || left <= 0 || signal?.aborted) return got;
      // Woken by the feed (which may hand this claim new commands, leased to it already); otherwise every
      // second (a retry's delay ending, a lease ending).
      const handed = await this.waitForCommands(worker, options, generation, Math.min(left, 1000), signal);
      if (handed.length > 0) return handed;
    }
  }

  /** Waits as a claim the worker feed may hand new commands to; returns those it got (none when only woken). */
  private async waitForCommands(
    worker: string, options: { max: number; leaseMs: number; by: string }, generation: number, ms: number, signal?: AbortSignal,
  ): Promise<ClaimedCommand[]> {
    let give!: (commands: ClaimedCommand[]) => void;
    const handed = new Promise<ClaimedCommand[]>((resolve) => (give = resolve));
    const claim: WaitingClaim = { ...options, reserved: false, give };
    const list = this.waiting.get(worker) ?? [];
    this.waiting.set(worker, [...list, claim]);
    try {
      // Handed commands end the wait at once (the feed does not notify for commands it handed over).
      await this.options.waiters.wait(worker, generation, ms, signal, handed);
      // Reserved by the feed: its insert is running; it gives the commands (or none) when it ends.
      return claim.reserved ? await handed : [];
    } finally {
      const rest = (this.waiting.get(worker) ?? []).filter((c) => c !== claim);
      if (rest.length > 0) this.waiting.set(worker, rest);
      else this.waiting.delete(worker);
    }
  }

  /** Records a command handed early, leased as it was handed, unless it was (fail and extend need the row). */
  private async recordEarly(worker: string, eventId: string, leaseToken: string): Promise<void> {
    const early = this.options.early;
    const item = early?.recordFor(worker, eventId, leaseToken);
    if (!item) return;
    await this.options.queue.enqueue([item]);
    early!.recorded(worker, eventId);
  }

  reserve(worker: string): ReturnType<WorkHandOff['reserve']> {
    const claim = this.waiting.get(worker)?.find((c) => !c.reserved);
    if (!claim) return undefined;
    claim.reserved = true;
    return { by: claim.by, leaseMs: claim.leaseMs, max: claim.max, give: claim.give };
  }

  async complete(worker: string, eventId: string, leaseToken: string, replies: readonly EventEnvelope[]): Promise<void> {
    const checked: EventEnvelope[] = [];
    for (const reply of replies) {
      const type = typeof (reply as { type?: unknown })?.type === 'string' ? reply.type : 'reply';
      try {
        checked.push(...this.options.validate(String(reply?.streamId), [reply]));
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        // A reply that fails its schema fails the same way every time: the command goes to dead letters.
        const issues = err.issues.map((i) => ({ ...i, path: i.path.replace(/^events\[0\]\.?/, '') }));
        const rejected = new ValidationError(`reply ${type} of worker ${worker} to command ${eventId} (the command is dead-lettered)`, issues);
        await this.recordEarly(worker, eventId, leaseToken);
        const { outcome, type: commandType } = await this.options.queue.fail(worker, eventId, leaseToken, { message: rejected.message, code: err.code }, { retryInMs: 0, final: true });
        if (outcome === 'lease-lost') throw new WorkLeaseLostError(worker, eventId);
        this.options.onOutcome?.({ worker, type: commandType ?? 'unknown', status: 'error' });
        throw rejected;
      }
    }
    const early = this.options.early?.recordFor(worker, eventId, leaseToken);
    const step = checked.length > 0 ? await this.options.replySteps?.prepare(checked) : undefined;
    const completion = await this.options.queue.complete(worker, eventId, leaseToken, checked, early, step?.step);
    if (early) this.options.early!.recorded(worker, eventId);
    if (completion === undefined) throw new WorkLeaseLostError(worker, eventId);
    // A completion that applied its reply's step woke the readers for what the step emitted; the reply itself
    // was applied, and the other followers read it with those.
    const stepped = step ? await this.options.replySteps!.completed(step, completion) : false;
    if (checked.length > 0 && !stepped) this.options.onAppended();
    this.options.onOutcome?.({ worker, type: completion.type, status: 'success' });
  }

  async fail(worker: string, eventId: string, leaseToken: string, error: { message: string; code?: string }, options: { attempt: number; final?: boolean }): Promise<FailOutcome> {
    const retryInMs = backoffDelay(options.attempt, this.backoff);
    const safe = { message: String(error.message).slice(0, 4000), ...(error.code ? { code: String(error.code).slice(0, 100) } : {}) };
    await this.recordEarly(worker, eventId, leaseToken);
    const { outcome, type } = await this.options.queue.fail(worker, eventId, leaseToken, safe, { retryInMs, ...(options.final ? { final: true } : {}) });
    if (type !== undefined) this.options.onOutcome?.({ worker, type, status: safe.code === ErrorCode.HandlerTimeout ? 'timeout' : 'error' });
    // The retry's waiters here wake when its delay ends (those on other daemons ask again within a second).
    if (outcome === 'retrying') setTimeout(() => this.options.waiters.notify([worker]), retryInMs + 1).unref();
    return outcome;
  }

  /** Extends a held lease (a long command); throws {@link WorkLeaseLostError} when it was lost. */
  async extend(worker: string, eventId: string, leaseToken: string, leaseMs: number): Promise<void> {
    check('lease extension', Number.isInteger(leaseMs) && leaseMs >= 100 && leaseMs <= MAX_LEASE_MS, 'leaseMs', `is an integer from 100 to ${MAX_LEASE_MS}`);
    await this.recordEarly(worker, eventId, leaseToken);
    if (!(await this.options.queue.extend(worker, eventId, leaseToken, leaseMs))) throw new WorkLeaseLostError(worker, eventId);
  }

  list(): Promise<WorkerState[]> {
    return this.options.queue.list();
  }

  /** Gives a dead-lettered command back to its worker with fresh attempts. */
  requeue(worker: string, eventId: string): Promise<boolean> {
    return this.options.queue.requeue(worker, eventId);
  }
}
