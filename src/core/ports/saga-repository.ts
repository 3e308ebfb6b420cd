import type { EventEnvelope } from '../events/envelope.js';
import type { DeadLetters, NewDeadLetter } from './dead-letters.js';
import type { Fence } from './leases.js';
import type { SagaInstance, SagaQueries, StepEffects, TimerEntry } from './saga-store.js';

/** What the read phase of a step sees. */
export interface SagaStepRead {
  instance: SagaInstance | undefined;
  /** True when this event id is already in the instance's inbox (applied or noted before). */
  seen: boolean;
}

/** The instance row a step writes. */
export interface SagaInstanceWrite {
  /** true: plain INSERT (a second creator gets a conflict, never an upsert); false: UPDATE checked on `expectedVersion`. */
  create: boolean;
  /** The version read (0 when creating); the row is written with `expectedVersion + 1`. */
  expectedVersion: number;
  definitionVersion: number;
  status: SagaInstance['status'];
  state: unknown;
  context: Record<string, unknown>;
  snapshot: unknown;
}

/** Everything one step commits, atomically. */
export interface SagaStepWrite {
  saga: string;
  key: string;
  /** The event that caused the step; its id goes to the inbox when `inbox` is true. */
  event: EventEnvelope;
  /** Record the event id in the inbox so redelivery is a no-op. @default true */
  inbox?: boolean;
  instance?: SagaInstanceWrite;
  /**
   * One history row; omit to write none. `at` (ISO) is the step's decision time, the `now` its effects were
   * computed with, so `sagaflow verify` can recompute them exactly; the write time when omitted.
   */
  history?: { fromState: unknown; toState: unknown; effects: StepEffects; kind: string; note?: string; at?: string };
  /** Events the step emits: appended to the event log in this same transaction (the log is the outbox). */
  emitted?: EventEnvelope[];
  /** Upserted by (saga, key, id). */
  timers?: TimerEntry[];
  /** Timer ids deleted for this instance. */
  cancelledTimers?: string[];
  deadLetter?: NewDeadLetter;
  /** Keep the event until an instance for its key exists (onMissing: 'park'). */
  park?: boolean;
  /** Remove this event from the parked events of the key (it is being applied now). */
  unpark?: boolean;
}

/** The operations available inside one step transaction. */
export interface SagaStepTx {
  read(saga: string, key: string, eventId: string): Promise<SagaStepRead>;
  /**
   * Takes a due timer for firing: true when this transaction now owns it (and has deleted it);
   * false when another worker holds it, it was cancelled, or it was rescheduled to another time.
   */
  claimTimer(timer: TimerEntry): Promise<boolean>;
  /**
   * Writes the step. Throws a retryable {@link import('../errors.js').ConcurrencyError} when another writer
   * got there first (instance version moved, instance created concurrently, inbox row inserted concurrently);
   * the caller rolls back and retries the whole step. An emitted event the event log rejects (its data fails
   * the registered schema, it is too large) is a non-retryable `ValidationError` / `PayloadTooLargeError`
   * thrown **before anything is written**, so the caller can dead-letter the cause in the same transaction.
   */
  write(write: SagaStepWrite): Promise<void>;
}

/** What a batch of steps reads up front, in one round trip: one entry per (instance, event). */
export interface SagaBatchRead {
  saga: string;
  key: string;
  eventId: string;
}

/** The operations of one transaction that runs several steps (see {@link SagaRepository.stepBatch}). */
export interface SagaBatchTx {
  /**
   * Loads the instances and inbox entries of `reads` in one statement (and checks the batch's fences in
   * it); later reads of those (instance, event) pairs are served from memory, kept current by this
   * transaction's own writes. Throws `LeaseLostError` for the first fence that no longer holds.
   */
  preload(reads: readonly SagaBatchRead[]): Promise<void>;
  /** The step operations, each step of the batch one after the other, all in this transaction. */
  readonly step: SagaStepTx;
}

/**
 * Storage of saga instances with a unit of work per step: inbox, instance (versioned), history, emitted
 * events (appended to the event log), timers, dead letters and parked events commit together or not at all.
 */
export interface SagaRepository extends SagaQueries {
  /** Dead letters written by steps land here (same database as the steps). */
  readonly deadLetters: DeadLetters;
  /**
   * Runs `fn` as one unit of work: its write commits whole or not at all, and a write based on a stale read
   * (the instance moved, the event applied meanwhile) throws a retryable `ConcurrencyError` and writes
   * nothing. `fn` reads, then writes at most once (a timer step first claims its timer: pass `timer: true`,
   * and the claim and the write share one transaction). An implementation may run the read and the write as
   * separate statements, the write checking everything the read decided on. With a `fence`, the write checks
   * that the lease is still held at its epoch (and holds it against a takeover until it commits), else it
   * throws `LeaseLostError` and writes nothing: a daemon paused past its lease cannot apply a step.
   */
  step<T>(fn: (tx: SagaStepTx) => Promise<T>, options?: { fence?: Fence; timer?: boolean }): Promise<T>;
  /**
   * Runs several steps as one transaction (one commit for all of them): each step's guarantees are those
   * of {@link step} (inbox, version check, emitted events in the log), and any throw rolls back the whole
   * batch, so the caller can retry its steps one by one. `fences` are checked by `preload`, which the
   * caller must call first; with fences, a batch that never preloads writes nothing.
   */
  stepBatch<T>(fn: (tx: SagaBatchTx) => Promise<T>, options?: { fences?: readonly Fence[] }): Promise<T>;
  /** Timers due at `now`, oldest first, of the named sagas (all when omitted). Not claimed: the step claims each one. */
  dueTimers(now: Date, limit: number, sagas?: readonly string[]): Promise<TimerEntry[]>;
  /** Parked events of a key, oldest first. */
  parked(saga: string, key: string): Promise<EventEnvelope[]>;
}

/** Where a completion step (ADR 0020) may apply: the partition's fence and the saga reader's position. */
export interface CompletionStepGate {
  fence: Fence;
  /** The saga reader's cursor (events after it are not yet read; undefined: from the beginning of the log). */
  after: string | undefined;
  /** Event types some saga handles. */
  types: readonly string[];
  /** Ids of events after `after` whose steps this process has applied (or skipped as not its own). */
  applied: readonly string[];
}
