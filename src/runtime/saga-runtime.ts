import { pino, type Logger } from 'pino';
import { ErrorCode, LeaseLostError, SagaDefinitionError, SagaflowError, ValidationError } from '../core/errors.js';
import type { Fence } from '../core/ports/leases.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { EventBus, Subscription, SubscribeOptions } from '../core/ports/event-bus.js';
import type { SagaRepository } from '../core/ports/saga-repository.js';
import type { TimerEntry } from '../core/ports/saga-store.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { Semaphore } from '../core/bus/semaphore.js';
import { runStep, StepResult, timerInput, type StepOutcome } from './saga-step.js';
import { TimerPoller, type TimerPollerOptions } from './timer-poller.js';
import { isResumeForAnother } from '../core/saga/resume.js';
import { combineVersions } from '../core/saga/versions.js';
import { traceStepBatch } from '../core/tracing/spans.js';

/** Options of {@link SagaRuntime}. */
export interface SagaRuntimeOptions {
  repository: SagaRepository;
  sagas: readonly SagaDefinition[];
  /**
   * Events in, through a subscription (the Redis transport). Without one, hand events to `handle` or
   * `applyBatch` (the daemon's saga reader does, from the event log). Emitted events need no bus: the
   * step appends them to the event log.
   */
  bus?: EventBus;
  /** @default systemClock */
  clock?: Clock;
  logger?: Logger;
  /** Retries of a step that lost an optimistic-concurrency race. @default 10 */
  maxConflictRetries?: number;
  /** Called with the events a step appended, after it committed (wake the log's readers). */
  onEmitted?: (emitted: readonly EventEnvelope[]) => void;
  /**
   * Steps committed together in one transaction by `applyBatch` (its default) and by `fireDueTimers`.
   * 1 = a transaction per step. @default 1
   */
  stepsPerTransaction?: number;
  /** Timer poller settings, or false to run none in this process. */
  timers?: TimerPollerOptions | false;
  /** Options of the bus subscription (one `*` subscription for all sagas). @default group 'sagaflow.sagas', concurrency 16 */
  subscribe?: SubscribeOptions;
}

/** Options of {@link SagaRuntime.applyBatch}. */
export interface ApplyBatchOptions {
  /** Steps in flight at once, across instances. @default 16 */
  concurrency?: number;
  /**
   * Whether this process applies `event` to the instance (saga, key), and under which lease fence;
   * undefined skips it (another daemon owns its partition, or it was applied before). @default apply all, unfenced
   */
  route?: (saga: string, key: string, event: EventEnvelope) => { fence?: Fence } | undefined;
  /** Called with the lease name when a fenced step found its lease taken by another daemon. */
  onLeaseLost?: (lease: string) => void;
  /** Called after each routed (event, instance) step of the batch committed (or found the event applied before). */
  onStepped?: (eventId: string) => void;
  /**
   * Steps committed together in one transaction (whole instances' runs of events, up to this many steps
   * each; an instance with more gets a transaction of its own). 1 = a transaction per step. @default the runtime's `stepsPerTransaction`
   */
  stepsPerTransaction?: number;
}

/** The events of one instance (or of one uncorrelatable event) in a page, in log order. */
interface Lane {
  lane: string;
  fence: Fence | undefined;
  items: Array<{ saga: SagaDefinition; event: EventEnvelope; key?: string; timer?: TimerEntry }>;
}

/** Groups whole lanes into chunks of at most `max` steps (a longer lane is a chunk of its own). */
function chunkLanes(lanes: readonly Lane[], max: number): Lane[][] {
  const chunks: Lane[][] = [];
  let current: Lane[] = [];
  let size = 0;
  for (const lane of lanes) {
    if (size > 0 && size + lane.items.length > max) {
      chunks.push(current);
      current = [];
      size = 0;
    }
    current.push(lane);
    size += lane.items.length;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Runs sagas durably: routes each event to every saga that declares its type, correlates it to an instance
 * key and applies it in one transaction per (event, instance) — inbox dedupe, versioned snapshot, history,
 * emitted events appended to the event log, timers. Poison goes to dead letters in that same transaction
 * while the instance keeps working.
 *
 * @example
 * const runtime = new SagaRuntime({ repository, sagas: [TaskProcessing], bus });
 * await runtime.start();   // subscribes (when given a bus) and starts the timer poller
 * await runtime.stop();
 */
export class SagaRuntime {
  readonly repository: SagaRepository;
  readonly poller: TimerPoller | undefined;
  private readonly sagas = new Map<string, SagaDefinition>();
  private readonly byType = new Map<string, SagaDefinition[]>();
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly maxRetries: number;
  private subscriptions: Subscription[] = [];
  private started = false;
  private starting: Promise<void> | undefined;

  constructor(private readonly options: SagaRuntimeOptions) {
    this.repository = options.repository;
    this.clock = options.clock ?? systemClock;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'saga-runtime' });
    this.maxRetries = options.maxConflictRetries ?? 10;
    for (const saga of options.sagas) {
      if (saga.defined !== true) throw new SagaDefinitionError(String((saga as { name?: unknown }).name), 'pass the result of defineSaga()');
    }
    // Several versions of one saga run side by side: one combined definition per name (core/saga/versions.ts).
    for (const saga of combineVersions(options.sagas)) {
      this.sagas.set(saga.name, saga);
      for (const type of saga.eventTypes) this.byType.set(type, [...(this.byType.get(type) ?? []), saga]);
    }
    this.poller = options.timers !== false ? new TimerPoller(this, { ...(options.timers ?? {}), logger: this.logger }) : undefined;
  }

  /** Event types some saga of this runtime handles. */
  handledTypes(): string[] {
    return [...this.byType.keys()].sort();
  }

  /** Applies an event to every saga that declares its type. Resolves when all steps committed. */
  async handle(event: EventEnvelope): Promise<StepOutcome[]> {
    const sagas = (this.byType.get(event.type) ?? []).filter((s) => !isResumeForAnother(event, s.name));
    const out: StepOutcome[] = [];
    for (const saga of sagas) out.push(await this.handleFor(saga, event));
    return out;
  }

  /**
   * Applies a page of events (in log order) to every saga that declares their types: one instance's
   * events one at a time and in order, different instances concurrently (at most `concurrency` steps at
   * once). `route` decides per instance whether this process applies it (and under which lease fence);
   * a lane whose lease was lost stops and is reported through `onLeaseLost`. Resolves when every step
   * committed; rejects on the first other failure, after the steps in flight settled (redelivering the
   * page is safe: the inbox makes applied events no-ops).
   */
  async applyBatch(events: readonly EventEnvelope[], options: ApplyBatchOptions = {}): Promise<StepOutcome[]> {
    const lanes = new Map<string, Lane>();
    for (const event of events) {
      for (const saga of this.byType.get(event.type) ?? []) {
        if (isResumeForAnother(event, saga.name)) continue;
        let lane: string;
        let fence: Fence | undefined;
        let key: string | undefined;
        try {
          key = this.keyFor(saga, event);
          if (options.route) {
            const routed = options.route(saga.name, key, event);
            if (!routed) continue;
            fence = routed.fence;
          }
          lane = `${saga.name}\u0000${key}`;
        } catch {
          lane = `\u0000${event.id}`; // no key: handleFor dead-letters it, on its own lane
        }
        const list = lanes.get(lane);
        const item = key === undefined ? { saga, event } : { saga, event, key };
        if (list) list.items.push(item);
        else lanes.set(lane, { lane, fence, items: [item] });
      }
    }
    const perTx = options.stepsPerTransaction ?? this.options.stepsPerTransaction ?? 1;
    const permits = new Semaphore(options.concurrency ?? 16);
    const outcomes: StepOutcome[] = [];
    const work: Array<Promise<void>> = [];
    const keyless = [...lanes.values()].filter((l) => l.items[0]!.key === undefined);
    const keyed = [...lanes.values()].filter((l) => l.items[0]!.key !== undefined);
    if (perTx > 1) {
      // Lanes in one fixed order (saga, key), so concurrent batches lock instance rows in the same order.
      keyed.sort((a, b) => (a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0));
      for (const chunk of chunkLanes(keyed, perTx)) work.push(permits.run(() => this.applyLanesTogether(chunk, outcomes, options)));
    } else {
      for (const lane of keyed) work.push(permits.run(() => this.applyLane(lane, outcomes, options)));
    }
    for (const lane of keyless) work.push(permits.run(() => this.applyLane(lane, outcomes, options)));
    const results = await Promise.allSettled(work);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return outcomes;
  }

  /** One lane's events one after the other, each in a step transaction of its own. */
  private async applyLane(lane: Lane, outcomes: StepOutcome[], options: ApplyBatchOptions): Promise<void> {
    try {
      for (const { saga, event, key, timer } of lane.items) {
        const step = lane.fence ? { fence: lane.fence } : {};
        // The key was computed for the lane; an event without one is dead-lettered by handleFor.
        if (timer) outcomes.push(await this.fireTimer(timer));
        else outcomes.push(key === undefined ? await this.handleFor(saga, event, step) : await this.applyStep(saga, key, event, step));
        options.onStepped?.(event.id);
      }
    } catch (err) {
      if (!(err instanceof LeaseLostError)) throw err;
      options.onLeaseLost?.(String(err.details.lease));
    }
  }

  /**
   * Several lanes' steps in one transaction (one commit). When the batch fails — a version conflict, a
   * deadlock, any error — it is rolled back and each lane is applied on its own (the per-step path, with
   * its retries), so one bad instance costs its batch-mates one retry, never their events. A lease lost
   * under the batch drops that lease's lanes and retries the rest together.
   */
  private async applyLanesTogether(chunk: Lane[], outcomes: StepOutcome[], options: ApplyBatchOptions): Promise<void> {
    let lanes = chunk;
    for (;;) {
      if (lanes.length === 0) return;
      if (lanes.length === 1 && lanes[0]!.items.length === 1) return this.applyLane(lanes[0]!, outcomes, options);
      const fences = [...new Map(lanes.flatMap((l) => (l.fence ? [[l.fence.lease, l.fence] as const] : []))).values()];
      const now = this.clock.now();
      let batch: StepOutcome[];
      try {
        const steps = lanes.reduce((n, l) => n + l.items.length, 0);
        batch = await traceStepBatch(steps, () => this.repository.stepBatch(async (tx) => {
          await tx.preload(lanes.flatMap((l) => l.items.map((i) => ({ saga: i.saga.name, key: i.key!, eventId: i.event.id }))));
          const out: StepOutcome[] = [];
          for (const lane of lanes) {
            for (const { saga, event, key, timer } of lane.items) {
              out.push(await runStep(tx.step, { saga, key: key!, envelope: event, ...(timer ? { timer } : {}), now, logger: this.logger, unpark: false }));
            }
          }
          return out;
        }, fences.length > 0 ? { fences } : {}));
      } catch (err) {
        if (err instanceof LeaseLostError) {
          const lease = String(err.details.lease);
          options.onLeaseLost?.(lease);
          lanes = lanes.filter((l) => l.fence?.lease !== lease);
          continue;
        }
        this.logger.debug({ err, steps: lanes.reduce((n, l) => n + l.items.length, 0) }, 'batch of steps failed; applying its instances one by one');
        for (const lane of lanes) await this.applyLane(lane, outcomes, options);
        return;
      }
      outcomes.push(...batch);
      for (const lane of lanes) for (const { event } of lane.items) options.onStepped?.(event.id);
      for (const outcome of batch) await this.afterStep(this.sagas.get(outcome.saga)!, outcome);
      return;
    }
  }

  /** The sagas that apply `event` (those that declare its type, a resume only to its own saga). */
  sagasFor(event: EventEnvelope): SagaDefinition[] {
    return (this.byType.get(event.type) ?? []).filter((s) => !isResumeForAnother(event, s.name));
  }

  /** The instance key of `event` for `saga`; throws a `ValidationError` when it cannot be correlated. */
  keyFor(saga: SagaDefinition, event: EventEnvelope): string {
    const fn = saga.correlate[event.type];
    if (!fn) throw new ValidationError(`event for saga ${saga.name}`, [{ path: 'type', message: `"${event.type}" has no correlate function` }]);
    const key = fn(event);
    if (typeof key !== 'string' || key.length === 0 || key.length > 200) {
      throw new ValidationError(`correlation key of ${event.type} for saga ${saga.name}`, [{ path: '', message: `must be a string of 1..200 characters, got ${JSON.stringify(key)}` }]);
    }
    return key;
  }

  /** Applies an event to one saga (under a lease fence when given: a lost lease throws `LeaseLostError`). */
  async handleFor(saga: SagaDefinition, event: EventEnvelope, options: { unpark?: boolean; fence?: Fence } = {}): Promise<StepOutcome> {
    let key: string;
    try {
      key = this.keyFor(saga, event);
    } catch (err) {
      // No key, so no instance to hold a transaction on: the letter goes in on its own.
      const at = this.clock.now().toISOString();
      const e = err instanceof Error ? err : new Error(String(err));
      await this.repository.deadLetters.add({
        handlerId: `saga:${saga.name}`, event, attempts: 1, firstFailedAt: at, lastFailedAt: at, saga: saga.name,
        error: { message: e.message, ...(e.stack ? { stack: e.stack } : {}), ...((err as { code?: string }).code ? { code: (err as { code: string }).code } : {}) },
      });
      return { saga: saga.name, key: undefined, eventId: event.id, result: StepResult.DeadLettered, error: { message: e.message } };
    }
    return this.applyStep(saga, key, event, options);
  }

  /** One event to one instance of `saga`, in one step transaction (retried on conflicts). */
  private async applyStep(saga: SagaDefinition, key: string, event: EventEnvelope, options: { unpark?: boolean; fence?: Fence }): Promise<StepOutcome> {
    const outcome = await this.withRetries(saga, key, event, () =>
      this.repository.step(
        (tx) => runStep(tx, { saga, key, envelope: event, now: this.clock.now(), logger: this.logger, unpark: options.unpark ?? false }),
        options.fence ? { fence: options.fence } : {},
      ),
    );
    await this.afterStep(saga, outcome);
    return outcome;
  }

  /** Fires one due timer (claimed inside the step; a timer someone else holds is skipped). */
  async fireTimer(timer: TimerEntry): Promise<StepOutcome> {
    const saga = this.sagas.get(timer.saga);
    const { key, envelope } = timerInput(timer);
    if (!saga) return { saga: timer.saga, key, eventId: envelope.id, result: StepResult.TimerSkipped };
    const outcome = await this.withRetries(saga, key, envelope, () =>
      this.repository.step((tx) => runStep(tx, { saga, key, envelope, timer, now: this.clock.now(), logger: this.logger }), { timer: true }),
    );
    await this.afterStep(saga, outcome);
    return outcome;
  }

  /**
   * Fires the timers due now (by the injected clock). With `stepsPerTransaction` > 1 the timers of many
   * instances fire in shared transactions (each claimed inside its step, as alone). Returns how many fired.
   */
  async fireDueTimers(limit = 100): Promise<number> {
    const due = await this.repository.dueTimers(this.clock.now(), limit, [...this.sagas.keys()]);
    const perTx = this.options.stepsPerTransaction ?? 1;
    if (perTx <= 1) {
      let fired = 0;
      for (const t of due) if ((await this.fireTimer(t)).result !== StepResult.TimerSkipped) fired++;
      return fired;
    }
    const lanes = new Map<string, Lane>();
    for (const timer of due) {
      const saga = this.sagas.get(timer.saga);
      if (!saga) continue;
      const { key, envelope } = timerInput(timer);
      const lane = `${saga.name}\u0000${key}`;
      const item = { saga, event: envelope, key, timer };
      const existing = lanes.get(lane);
      if (existing) existing.items.push(item);
      else lanes.set(lane, { lane, fence: undefined, items: [item] });
    }
    const outcomes: StepOutcome[] = [];
    const sorted = [...lanes.values()].sort((a, b) => (a.lane < b.lane ? -1 : a.lane > b.lane ? 1 : 0));
    for (const chunk of chunkLanes(sorted, perTx)) await this.applyLanesTogether(chunk, outcomes, {});
    return outcomes.filter((o) => o.result !== StepResult.TimerSkipped).length;
  }

  /** Subscribes to the bus (when given one) and starts the timer poller. Idempotent. */
  async start(): Promise<void> {
    if (this.started) return;
    this.starting ??= this.doStart();
    await this.starting;
  }

  private async doStart(): Promise<void> {
    const bus = this.options.bus;
    if (bus) {
      // One subscription for all sagas: a bus group serves one pattern, and events of one stream must
      // reach the runtime in order, which the bus keeps per ordering key within a subscription.
      const subscribeOptions: SubscribeOptions = { group: 'sagaflow.sagas', concurrency: 16, ...(this.options.subscribe ?? {}) };
      this.subscriptions.push(
        await bus.subscribe(
          '*',
          async (event) => {
            if (this.byType.has(event.type)) await this.handle(event);
          },
          subscribeOptions,
        ),
      );
    }
    this.poller?.start();
    this.started = true;
    this.logger.info({ sagas: [...this.sagas.keys()] }, 'saga runtime started');
  }

  /** Unsubscribes and stops the timer poller after its work in flight. Idempotent. */
  async stop(): Promise<void> {
    if (this.starting) await this.starting.catch(() => undefined);
    if (!this.started) return;
    this.started = false;
    this.starting = undefined;
    const subs = this.subscriptions;
    this.subscriptions = [];
    for (const s of subs) await s.unsubscribe();
    await this.poller?.stop();
    this.logger.info('saga runtime stopped');
  }

  private async withRetries(saga: SagaDefinition, key: string, event: EventEnvelope, run: () => Promise<StepOutcome>): Promise<StepOutcome> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await run();
      } catch (err) {
        // A version conflict, a racing insert, a deadlock or serialization failure: re-read and decide again.
        if (!(err instanceof SagaflowError && err.code === ErrorCode.Concurrency) || attempt > this.maxRetries) throw err;
        this.logger.debug({ saga: saga.name, sagaKey: key, eventId: event.id, attempt }, 'step lost a race; retrying');
        // Jittered, growing pause so racing writers spread out instead of colliding again.
        await sleep(Math.random() * Math.min(50, 2 ** attempt));
      }
    }
  }

  /** What follows a committed step: wake the log's readers after an append, apply events parked for a new instance. */
  async afterStep(saga: SagaDefinition, outcome: StepOutcome): Promise<void> {
    if ((outcome.emitted?.length ?? 0) > 0) this.options.onEmitted?.(outcome.emitted!);
    // A new instance may have events that arrived before it (onMissing: 'park'): apply them now.
    if (outcome.result === StepResult.Created && saga.onMissing === 'park' && outcome.key !== undefined) {
      for (const parked of await this.repository.parked(saga.name, outcome.key)) await this.handleFor(saga, parked, { unpark: true });
    }
  }
}
