import type { z } from 'zod';
import { UnknownEventTypeError, ValidationError } from '../errors.js';
import { createEvent, toIssues, type EventEnvelope, type EventMetadata } from '../events/envelope.js';
import { systemClock, type Clock } from '../ports/clock.js';

/** An aggregate's events: type → zod schema of `data`. */
export type AggregateEventSchemas = Record<string, z.ZodType>;

/** An event as `evolve` sees it: a declared type with its parsed data, its stream version and its time. */
export type AggregateEvent<E extends AggregateEventSchemas> = {
  [K in keyof E & string]: { id: string; type: K; data: z.output<E[K]>; version: number; timestamp: string; metadata: EventMetadata };
}[keyof E & string];

/** An event a command decides: a declared type and its data (in the schema's input form: defaults may be left out). */
export type DecidedEvent<E extends AggregateEventSchemas> = {
  [K in keyof E & string]: { type: K; data: z.input<E[K]> };
}[keyof E & string];

/** What a command sees besides the state and its input. */
export interface DecideContext {
  /** The aggregate's id (not its stream id). */
  readonly id: string;
  /** The stream version the command decides on (0: nothing happened yet). */
  readonly version: number;
  readonly now: Date;
}

/**
 * A command: a pure function from the current state and an input to the events that happen (none, one or
 * several). It refuses by throwing a typed error (`InvariantViolationError`, `NotFoundError`, ...).
 */
export type AggregateCommand<S, E extends AggregateEventSchemas, I = never> = (
  state: S,
  input: I,
  context: DecideContext,
) => DecidedEvent<E> | readonly DecidedEvent<E>[];

/** The input type of a command. */
export type CommandInput<F> = F extends (state: never, input: infer I, context: never) => unknown ? I : never;

/** Options of {@link defineAggregate}. */
export interface DefineAggregateOptions<S, E extends AggregateEventSchemas, C extends Record<string, AggregateCommand<S, E, never>>> {
  /**
   * The aggregate type, e.g. `context`: the envelope's `aggregateType` and the prefix of its stream ids
   * (`context-<id>`). Lower-case words joined by `-` or `_`.
   */
  type: string;
  /**
   * Version of the state's shape. Raise it when `evolve` or the state changes: snapshots taken under another
   * version are ignored and the state is rebuilt from the events.
   */
  schemaVersion: number;
  /** Every event type of this aggregate and the zod schema of its data. */
  events: E;
  /** The state before the first event. Must be JSON-native (snapshots are stored as JSON); it is copied, never mutated. */
  initialState: S;
  /** Pure: the state after one event. Must not mutate `state` (return a new object) and must not read the clock. */
  evolve(state: S, event: AggregateEvent<E>): S;
  /** The commands, by name (see {@link AggregateCommand}). */
  commands: C;
}

/** An aggregate definition: its events, its pure `evolve` and its commands (see {@link defineAggregate}). */
export interface AggregateDefinition<S = unknown, E extends AggregateEventSchemas = AggregateEventSchemas, C extends Record<string, AggregateCommand<S, E, never>> = Record<string, AggregateCommand<S, E, never>>> {
  readonly kind: 'sagaflow.aggregate';
  readonly type: string;
  readonly schemaVersion: number;
  readonly events: E;
  readonly commands: C;
  /** The stream of the aggregate `id`: `<type>-<id>`. */
  streamId(id: string): string;
  /** A fresh copy of the initial state. */
  initialState(): S;
  /** `evolve` of the definition: the state after one event. */
  evolve(state: S, event: AggregateEvent<E>): S;
  /**
   * Folds events onto `state` (default: the initial state) in the order given. An event type the aggregate
   * does not declare is an {@link UnknownEventTypeError}: a state built by skipping it would be wrong.
   */
  fold(events: Iterable<EventEnvelope>, state?: S): S;
}

/** Any aggregate definition, as what it declares (its commands' and state's types aside): what the daemon registers. */
export type AnyAggregateDefinition = Pick<AggregateDefinition, 'kind' | 'type' | 'schemaVersion' | 'events'>;

const typePattern = /^[a-z][a-z0-9]*([_-][a-z0-9]+)*$/;

/**
 * Defines an event-sourced aggregate as pure functions: commands decide events from the state, `evolve`
 * folds events into the state. Load and save it with an `AggregateRepository` (ADR 0013).
 *
 * @example
 * const Counter = defineAggregate({
 *   type: 'counter', schemaVersion: 1, initialState: { total: 0 },
 *   events: { 'counter.added': z.object({ n: z.number().int() }) },
 *   evolve: (state, e) => ({ total: state.total + e.data.n }),
 *   commands: { add: (_state, n: number) => ({ type: 'counter.added', data: { n } }) },
 * });
 */
export function defineAggregate<S, E extends AggregateEventSchemas, C extends Record<string, AggregateCommand<S, E, never>>>(
  options: DefineAggregateOptions<S, E, C>,
): AggregateDefinition<S, E, C> {
  const issues = [];
  if (!typePattern.test(options.type)) issues.push({ path: 'type', message: `"${options.type}" must be lower-case words joined by - or _, e.g. "context"` });
  if (!Number.isInteger(options.schemaVersion) || options.schemaVersion < 1) issues.push({ path: 'schemaVersion', message: 'must be an integer ≥ 1' });
  if (Object.keys(options.events).length === 0) issues.push({ path: 'events', message: 'must declare at least one event type' });
  if (issues.length > 0) throw new ValidationError(`aggregate definition ${options.type}`, issues);
  const initial = structuredClone(options.initialState);
  const known = Object.keys(options.events);
  const evolve = options.evolve;
  return {
    kind: 'sagaflow.aggregate',
    type: options.type,
    schemaVersion: options.schemaVersion,
    events: options.events,
    commands: options.commands,
    streamId: (id) => `${options.type}-${id}`,
    initialState: () => structuredClone(initial),
    evolve,
    fold(events, state) {
      let s = state ?? structuredClone(initial);
      for (const e of events) {
        if (!Object.hasOwn(options.events, e.type)) throw new UnknownEventTypeError(e.type, known);
        s = evolve(s, e as unknown as AggregateEvent<E>);
      }
      return s;
    },
  };
}

/** True for a value returned by {@link defineAggregate} (how the daemon finds aggregates in a sagas module). */
export function isAggregateDefinition(value: unknown): value is AnyAggregateDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'sagaflow.aggregate';
}

/** The {@link Aggregate} type of a definition, e.g. `AggregateOf<typeof Context>`. */
export type AggregateOf<D> = D extends AggregateDefinition<infer S, infer E, infer C> ? Aggregate<S, E, C> : never;

/** Where an {@link Aggregate} starts: a snapshot's state or the initial one, at a stream version. */
export interface AggregateStart<S> {
  state: S;
  version: number;
}

/**
 * One aggregate in memory: its state, the stream version it was loaded at, and the events its commands
 * decided since (pending until `AggregateRepository.save` appends them).
 */
export class Aggregate<S, E extends AggregateEventSchemas, C extends Record<string, AggregateCommand<S, E, never>>> {
  private current: S;
  private committed: number;
  private uncommitted: EventEnvelope[] = [];
  private readonly clock: Clock;

  constructor(
    readonly definition: AggregateDefinition<S, E, C>,
    readonly id: string,
    start: AggregateStart<S> = { state: definition.initialState(), version: 0 },
    options: { clock?: Clock } = {},
  ) {
    this.current = start.state;
    this.committed = start.version;
    this.clock = options.clock ?? systemClock;
  }

  get streamId(): string {
    return this.definition.streamId(this.id);
  }

  /** The state, pending events included. */
  get state(): S {
    return this.current;
  }

  /** The stream version of the last stored event this aggregate has seen (0: none). */
  get version(): number {
    return this.committed;
  }

  /** Events decided since the last load or save, not yet stored. */
  get pending(): readonly EventEnvelope[] {
    return this.uncommitted;
  }

  /**
   * Runs a command: the events it decides are validated against their schemas (a {@link ValidationError}
   * naming the field), applied to the state and queued for `save`. Returns them. A refused command changes nothing.
   */
  execute<K extends keyof C & string>(command: K, input: CommandInput<C[K]>, options: { metadata?: EventMetadata } = {}): EventEnvelope[] {
    const decide = this.definition.commands[command];
    if (typeof decide !== 'function') {
      throw new ValidationError(`command of aggregate ${this.definition.type}`, [{ path: 'command', message: `"${command}" is not a command of ${this.definition.type}; known: ${Object.keys(this.definition.commands).join(', ')}` }]);
    }
    const now = this.clock.now();
    const version = this.committed + this.uncommitted.length;
    const decided = decide(this.current, input as never, { id: this.id, version, now });
    const list: readonly DecidedEvent<E>[] = Array.isArray(decided) ? decided : [decided as DecidedEvent<E>];
    const events = list.map((d, i) => this.envelope(d, i, now, options.metadata));
    let state = this.current;
    events.forEach((e, i) => (state = this.definition.evolve(state, { ...e, version: version + i + 1 } as unknown as AggregateEvent<E>)));
    this.current = state;
    this.uncommitted.push(...events);
    return events;
  }

  /** Marks the pending events stored at stream version `version` (the repository calls it after an append). */
  markCommitted(version: number): void {
    this.committed = version;
    this.uncommitted = [];
  }

  private envelope(decided: DecidedEvent<E>, index: number, now: Date, metadata: EventMetadata | undefined): EventEnvelope {
    const schema = this.definition.events[decided.type];
    if (!schema) throw new UnknownEventTypeError(decided.type, Object.keys(this.definition.events));
    const parsed = schema.safeParse(decided.data);
    if (!parsed.success) throw new ValidationError(`data of ${decided.type} (event ${index} of the command)`, toIssues(parsed.error, 'data'));
    return createEvent(
      { type: decided.type, streamId: this.streamId, aggregateType: this.definition.type, data: parsed.data as Record<string, unknown>, ...(metadata ? { metadata } : {}) },
      now,
    );
  }
}
