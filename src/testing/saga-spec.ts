import { isDeepStrictEqual } from 'node:util';
import { createEvent, type EventEnvelope, type NewEvent } from '../core/events/envelope.js';
import type { DeadLetter } from '../core/ports/dead-letters.js';
import type { SagaHistoryEntry, SagaStatus, TimerEntry } from '../core/ports/saga-store.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { MemorySagaRepository } from '../memory/saga-repository.js';
import { SagaRuntime } from '../runtime/saga-runtime.js';
import type { StepOutcome } from '../runtime/saga-step.js';
import { FakeClock } from './fake-clock.js';

/** An event for the spec: a full envelope (keep its id to test duplicates) or just `{ type, data }`. */
export type SpecEvent = EventEnvelope | NewEvent;

/** What {@link SagaSpec.thenExpect} checks; every field is optional. */
export interface SagaExpectation {
  /** The instance key; defaults to the key of the last event. */
  key?: string;
  /** State value, e.g. `'awaitingCompletion'` or `{ compensating: 'releasingAgent' }`. */
  state?: unknown;
  status?: SagaStatus;
  /** Types of the events emitted by the last `when` / `advanceTime`, in order. */
  emitted?: string[];
  /** Event types of the instance's scheduled timers (sorted by due time). */
  timers?: string[];
  /** Fields the context must contain (deep-equal per field). */
  context?: Record<string, unknown>;
}

/** A failed {@link SagaSpec.thenExpect} check. */
export class SagaSpecAssertionError extends Error {
  constructor(what: string, expected: unknown, actual: unknown) {
    super(`saga spec: ${what}\n  expected: ${JSON.stringify(expected)}\n  actual:   ${JSON.stringify(actual)}`);
    this.name = 'SagaSpecAssertionError';
  }
}

/** Options of {@link sagaSpec}. */
export interface SagaSpecOptions {
  /** Start of the fake clock. @default '2025-01-01T00:00:00.000Z' */
  now?: Date | string;
  /** Other sagas to run beside the one under test. */
  others?: SagaDefinition[];
}

/**
 * Given / When / Then for sagas, on the real runtime over the in-memory repository with a fake clock.
 *
 * @example
 * const spec = sagaSpec(TaskProcessing);
 * await spec.given({ type: 'task.created', data: { taskId: 't1' } });
 * await spec.when({ type: 'agent.assigned', data: { taskId: 't1', agentId: 'a1' } });
 * await spec.thenExpect({ state: 'awaitingCompletion', status: 'running', emitted: [], timers: ['xstate.after.sla.TaskProcessing.awaitingCompletion'] });
 * await spec.advanceTime(60 * 60_000); // fires the SLA timer
 * await spec.thenExpect({ status: 'compensating', emitted: ['agent.release-requested'] });
 */
export class SagaSpec {
  readonly clock: FakeClock;
  readonly repository: MemorySagaRepository;
  readonly runtime: SagaRuntime;
  /** Outcomes of the last `when` / `advanceTime` (one per saga the event reached, per timer fired). */
  lastOutcomes: StepOutcome[] = [];
  private lastKey: string | undefined;

  constructor(readonly saga: SagaDefinition, options: SagaSpecOptions = {}) {
    this.clock = new FakeClock(options.now);
    this.repository = new MemorySagaRepository({ clock: this.clock });
    this.runtime = new SagaRuntime({ repository: this.repository, sagas: [saga, ...(options.others ?? [])], clock: this.clock, timers: false });
  }

  /** Applies events as history (their effects are not what `thenExpect` checks). */
  async given(...events: Array<SpecEvent | SpecEvent[]>): Promise<void> {
    for (const e of events.flat()) await this.apply(e);
    this.lastOutcomes = [];
  }

  /** Applies one event; `thenExpect` and `emitted` look at what it did. */
  async when(event: SpecEvent): Promise<StepOutcome[]> {
    this.lastOutcomes = await this.apply(event);
    return this.lastOutcomes;
  }

  /** Moves the fake clock, firing due timers in due order at their due time. */
  async advanceTime(ms: number): Promise<StepOutcome[]> {
    const target = this.clock.now().getTime() + ms;
    const outcomes: StepOutcome[] = [];
    for (let i = 0; i < 10_000; i++) {
      const [next] = await this.repository.dueTimers(new Date(target), 1);
      if (!next) break;
      if (new Date(next.dueAt).getTime() > this.clock.now().getTime()) this.clock.set(next.dueAt);
      const o = await this.runtime.fireTimer(next);
      outcomes.push(o);
      if (o.key) this.lastKey = o.key;
    }
    this.clock.set(target);
    this.lastOutcomes = outcomes;
    return outcomes;
  }

  /** Builds an envelope at the fake clock's time; keep it to deliver the same event (same id) twice. */
  event(type: string, data: Record<string, unknown> = {}, extra: Omit<NewEvent, 'type' | 'data'> = {}): EventEnvelope {
    return createEvent({ ...extra, type, data }, this.clock.now());
  }

  /** Events emitted by the last `when` / `advanceTime`. */
  emitted(): EventEnvelope[] {
    return this.lastOutcomes.flatMap((o) => o.emitted ?? []);
  }

  /** Every event the instance ever emitted (appended to the log by its steps). */
  async allEmitted(key = this.key()): Promise<EventEnvelope[]> {
    return this.repository.emitted(this.saga.name, key);
  }

  async state(key = this.key()): Promise<unknown> {
    return (await this.instance(key)).state;
  }

  async status(key = this.key()): Promise<SagaStatus> {
    return (await this.instance(key)).status;
  }

  async context(key = this.key()): Promise<Record<string, unknown>> {
    return (await this.instance(key)).context;
  }

  async timers(key = this.key()): Promise<TimerEntry[]> {
    return this.repository.timers(this.saga.name, key);
  }

  async history(key = this.key()): Promise<SagaHistoryEntry[]> {
    return this.repository.history(this.saga.name, key);
  }

  async deadLetters(): Promise<DeadLetter[]> {
    return this.repository.deadLetters.list({ saga: this.saga.name });
  }

  /**
   * The "then": checks the instance; throws {@link SagaSpecAssertionError} naming the first mismatch.
   * (Not called `then`, which would make the spec a thenable that `await` never finishes.)
   */
  async thenExpect(expect: SagaExpectation): Promise<void> {
    const key = expect.key ?? this.key();
    const instance = await this.instance(key);
    if ('state' in expect && !isDeepStrictEqual(instance.state, expect.state)) throw new SagaSpecAssertionError(`state of ${key}`, expect.state, instance.state);
    if (expect.status !== undefined && instance.status !== expect.status) throw new SagaSpecAssertionError(`status of ${key}`, expect.status, instance.status);
    if (expect.emitted) {
      const types = this.emitted().map((e) => e.type);
      if (!isDeepStrictEqual(types, expect.emitted)) throw new SagaSpecAssertionError('emitted event types', expect.emitted, types);
    }
    if (expect.timers) {
      const types = (await this.timers(key)).map((t) => t.event.type);
      if (!isDeepStrictEqual(types, expect.timers)) throw new SagaSpecAssertionError(`timers of ${key}`, expect.timers, types);
    }
    for (const [field, value] of Object.entries(expect.context ?? {})) {
      if (!isDeepStrictEqual(instance.context[field], value)) throw new SagaSpecAssertionError(`context.${field} of ${key}`, value, instance.context[field]);
    }
  }

  private async apply(event: SpecEvent): Promise<StepOutcome[]> {
    const envelope = 'id' in event && typeof event.id === 'string' && 'timestamp' in event ? (event as EventEnvelope) : createEvent(event as NewEvent, this.clock.now());
    const outcomes = await this.runtime.handle(envelope);
    if (outcomes.length === 0) throw new Error(`saga spec: no saga handles "${envelope.type}"`);
    const own = outcomes.find((o) => o.saga === this.saga.name && o.key !== undefined);
    if (own?.key) this.lastKey = own.key;
    return outcomes;
  }

  private key(): string {
    if (!this.lastKey) throw new Error('saga spec: no instance yet; pass a key or apply an event first');
    return this.lastKey;
  }

  private async instance(key: string) {
    const i = await this.repository.get(this.saga.name, key);
    if (!i) throw new SagaSpecAssertionError(`instance ${key} exists`, 'an instance', undefined);
    return i;
  }
}

/** Starts a Given/When/Then spec for `saga` (see {@link SagaSpec}). */
export function sagaSpec(saga: SagaDefinition, options: SagaSpecOptions = {}): SagaSpec {
  return new SagaSpec(saga, options);
}
