import { isDeepStrictEqual } from 'node:util';
import { createEvent, type EventEnvelope, type NewEvent } from '../core/events/envelope.js';
import type { DeadLetter } from '../core/ports/dead-letters.js';
import type { SagaHistoryEntry, SagaInstance, SagaStatus, TimerEntry } from '../core/ports/saga-store.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { MemorySagaRepository } from '../memory/saga-repository.js';
import { SagaRuntime } from '../runtime/saga-runtime.js';
import type { StepOutcome } from '../runtime/saga-step.js';
import { FakeClock } from './fake-clock.js';
import { toMachineEvent } from '../core/saga/event-mapping.js';
import { COVERAGE_DIR_ENV, recordCoverage } from './coverage.js';

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

/** What the spec read from its repository after the last `given` / `when` / `advanceTime`. */
interface SpecView {
  instances: Map<string, SagaInstance>;
  timers: Map<string, TimerEntry[]>;
  history: Map<string, SagaHistoryEntry[]>;
  emitted: Map<string, EventEnvelope[]>;
  deadLetters: DeadLetter[];
}

const emptyView = (): SpecView => ({ instances: new Map(), timers: new Map(), history: new Map(), emitted: new Map(), deadLetters: [] });

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
 * Only `given`, `when` and `advanceTime` run steps: they are async, await them. Everything that reads
 * (`thenExpect`, `state`, `status`, `context`, `emitted`, `allEmitted`, `timers`, `history`, `deadLetters`)
 * is synchronous and returns plain values, read once after the last of those finished; reading while one is
 * still running throws. So `expect(spec.context()).toMatchObject(...)` checks the context, never a promise.
 *
 * @example
 * const spec = sagaSpec(TaskProcessing);
 * await spec.given({ type: 'task.created', data: { taskId: 't1' } });
 * await spec.when({ type: 'agent.assigned', data: { taskId: 't1', agentId: 'a1' } });
 * spec.thenExpect({ state: 'awaitingCompletion', status: 'running', emitted: [], timers: ['xstate.after.sla.TaskProcessing.awaitingCompletion'] });
 * await spec.advanceTime(60 * 60_000); // fires the SLA timer
 * spec.thenExpect({ status: 'compensating', emitted: ['agent.release-requested'] });
 * expect(spec.context()).toMatchObject({ failureReason: expect.stringContaining('SLA') });
 */
export class SagaSpec {
  readonly clock: FakeClock;
  /** The store under the spec. Reading it directly is fine (async, always current); the accessors read the view. */
  readonly repository: MemorySagaRepository;
  /** Private: an event handled past `when` would not be in the view the accessors read. */
  private readonly runtime: SagaRuntime;
  /** Outcomes of the last `when` / `advanceTime` (one per saga the event reached, per timer fired). */
  lastOutcomes: StepOutcome[] = [];
  private lastKey: string | undefined;
  /** Keys of this saga any step touched (history and dead letters exist for keys without an instance too). */
  private readonly keys = new Set<string>();
  private view: SpecView = emptyView();
  private running = 0;

  constructor(readonly saga: SagaDefinition, options: SagaSpecOptions = {}) {
    this.clock = new FakeClock(options.now);
    this.repository = new MemorySagaRepository({ clock: this.clock });
    this.runtime = new SagaRuntime({ repository: this.repository, sagas: [saga, ...(options.others ?? [])], clock: this.clock, timers: false });
  }

  /** Applies events as history (their effects are not what `thenExpect` checks). */
  async given(...events: Array<SpecEvent | SpecEvent[]>): Promise<void> {
    await this.act(async () => {
      for (const e of events.flat()) await this.apply(e);
      this.lastOutcomes = [];
    });
  }

  /** Applies one event; `thenExpect` and `emitted` look at what it did. */
  async when(event: SpecEvent): Promise<StepOutcome[]> {
    return this.act(async () => {
      this.lastOutcomes = await this.apply(event);
      return this.lastOutcomes;
    });
  }

  /** Moves the fake clock, firing due timers in due order at their due time. */
  async advanceTime(ms: number): Promise<StepOutcome[]> {
    return this.act(async () => {
      const target = this.clock.now().getTime() + ms;
      const outcomes: StepOutcome[] = [];
      for (let i = 0; i < 10_000; i++) {
        const [next] = await this.repository.dueTimers(new Date(target), 1);
        if (!next) break;
        if (new Date(next.dueAt).getTime() > this.clock.now().getTime()) this.clock.set(next.dueAt);
        const before = next.saga === this.saga.name ? await this.before(next.key) : undefined;
        const o = await this.runtime.fireTimer(next);
        if (before && (o.result === 'applied' || o.result === 'created')) recordCoverage(this.saga, next.key, before.snapshot, next.event);
        outcomes.push(o);
        this.noteKey(o);
      }
      this.clock.set(target);
      this.lastOutcomes = outcomes;
      return outcomes;
    });
  }

  /** Builds an envelope at the fake clock's time; keep it to deliver the same event (same id) twice. */
  event(type: string, data: Record<string, unknown> = {}, extra: Omit<NewEvent, 'type' | 'data'> = {}): EventEnvelope {
    return createEvent({ ...extra, type, data }, this.clock.now());
  }

  /** Events emitted by the last `when` / `advanceTime`. */
  emitted(): EventEnvelope[] {
    this.read();
    return structuredClone(this.lastOutcomes.flatMap((o) => o.emitted ?? []));
  }

  /** Every event the instance ever emitted (appended to the log by its steps). */
  allEmitted(key = this.key()): EventEnvelope[] {
    return structuredClone(this.read().emitted.get(key) ?? []);
  }

  /** The instance's state value; throws {@link SagaSpecAssertionError} when there is no instance. */
  state(key = this.key()): unknown {
    return structuredClone(this.instance(key).state);
  }

  status(key = this.key()): SagaStatus {
    return this.instance(key).status;
  }

  context(key = this.key()): Record<string, unknown> {
    return structuredClone(this.instance(key).context);
  }

  /** The instance's scheduled timers, by due time. */
  timers(key = this.key()): TimerEntry[] {
    return structuredClone(this.read().timers.get(key) ?? []);
  }

  history(key = this.key()): SagaHistoryEntry[] {
    return structuredClone(this.read().history.get(key) ?? []);
  }

  /** Dead letters of this saga, any key. */
  deadLetters(): DeadLetter[] {
    return structuredClone(this.read().deadLetters);
  }

  /**
   * The "then": checks the instance; throws {@link SagaSpecAssertionError} naming the first mismatch.
   * (Not called `then`, which would make the spec a thenable that `await` never finishes.)
   */
  thenExpect(expect: SagaExpectation): void {
    const key = expect.key ?? this.key();
    const instance = this.instance(key);
    if ('state' in expect && !isDeepStrictEqual(instance.state, expect.state)) throw new SagaSpecAssertionError(`state of ${key}`, expect.state, instance.state);
    if (expect.status !== undefined && instance.status !== expect.status) throw new SagaSpecAssertionError(`status of ${key}`, expect.status, instance.status);
    if (expect.emitted) {
      const types = this.emitted().map((e) => e.type);
      if (!isDeepStrictEqual(types, expect.emitted)) throw new SagaSpecAssertionError('emitted event types', expect.emitted, types);
    }
    if (expect.timers) {
      const types = this.timers(key).map((t) => t.event.type);
      if (!isDeepStrictEqual(types, expect.timers)) throw new SagaSpecAssertionError(`timers of ${key}`, expect.timers, types);
    }
    for (const [field, value] of Object.entries(expect.context ?? {})) {
      if (!isDeepStrictEqual(instance.context[field], value)) throw new SagaSpecAssertionError(`context.${field} of ${key}`, value, instance.context[field]);
    }
  }

  private async apply(event: SpecEvent): Promise<StepOutcome[]> {
    const envelope = 'id' in event && typeof event.id === 'string' && 'timestamp' in event ? (event as EventEnvelope) : createEvent(event as NewEvent, this.clock.now());
    const key = this.saga.eventTypes.has(envelope.type) ? this.correlateQuietly(envelope) : undefined;
    const before = key === undefined ? undefined : await this.before(key);
    const outcomes = await this.runtime.handle(envelope);
    if (outcomes.length === 0) throw new Error(`saga spec: no saga handles "${envelope.type}"`);
    const mine = outcomes.find((o) => o.saga === this.saga.name && o.key === key && (o.result === 'applied' || o.result === 'created'));
    if (before && mine && key !== undefined) recordCoverage(this.saga, key, before.snapshot, toMachineEvent(this.saga, envelope));
    for (const o of outcomes) this.noteKey(o);
    return outcomes;
  }

  /** With coverage on (`SAGAFLOW_COVERAGE_DIR`): the instance's snapshot before a step (`snapshot` undefined: none yet). */
  private async before(key: string): Promise<{ snapshot: unknown } | undefined> {
    if (!process.env[COVERAGE_DIR_ENV]) return undefined;
    return { snapshot: (await this.repository.get(this.saga.name, key))?.snapshot };
  }

  private correlateQuietly(envelope: EventEnvelope): string | undefined {
    try {
      return this.saga.correlate[envelope.type]?.(envelope);
    } catch {
      return undefined;
    }
  }

  private noteKey(outcome: StepOutcome): void {
    if (outcome.saga !== this.saga.name || outcome.key === undefined) return;
    this.keys.add(outcome.key);
    this.lastKey = outcome.key;
  }

  /** Runs steps, then reads the view the accessors return; they throw until it is read. */
  private async act<T>(steps: () => Promise<T>): Promise<T> {
    this.running++;
    try {
      return await steps();
    } finally {
      try {
        this.view = await this.load();
      } finally {
        this.running--;
      }
    }
  }

  private async load(): Promise<SpecView> {
    const name = this.saga.name;
    const view = emptyView();
    for (const instance of await this.repository.list({ saga: name, limit: 10_000 })) {
      view.instances.set(instance.key, instance);
      this.keys.add(instance.key);
    }
    for (const key of this.keys) {
      view.timers.set(key, await this.repository.timers(name, key));
      view.history.set(key, await this.repository.history(name, key));
      view.emitted.set(key, await this.repository.emitted(name, key));
    }
    view.deadLetters = await this.repository.deadLetters.list({ saga: name, limit: 10_000 });
    return view;
  }

  private read(): SpecView {
    if (this.running > 0) throw new Error('saga spec: read while given / when / advanceTime is still running; await it first');
    return this.view;
  }

  private key(): string {
    if (!this.lastKey) throw new Error('saga spec: no instance yet; pass a key or apply an event first');
    return this.lastKey;
  }

  private instance(key: string): SagaInstance {
    const i = this.read().instances.get(key);
    if (!i) throw new SagaSpecAssertionError(`instance ${key} exists`, 'an instance', undefined);
    return i;
  }
}

/** Starts a Given/When/Then spec for `saga` (see {@link SagaSpec}). */
export function sagaSpec(saga: SagaDefinition, options: SagaSpecOptions = {}): SagaSpec {
  return new SagaSpec(saga, options);
}
