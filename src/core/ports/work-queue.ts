import type { EventEnvelope } from '../events/envelope.js';
import type { StoredEvent } from './event-store.js';

/** A worker as the queue knows it (registered by the daemon for a handler, or by a remote worker). */
export interface WorkerRegistration {
  name: string;
  /** Event types or patterns. */
  handles: readonly string[];
  /** Attempts before a command is dead-lettered. */
  maxAttempts: number;
}

/** A registered worker. */
export interface RegisteredWorker extends WorkerRegistration {
  /** Commands at or before this log cursor are not this worker's (they committed before it registered). */
  fromCursor: string;
}

/** One command for one worker, as the worker feed records it. */
export interface WorkItem {
  worker: string;
  event: Pick<StoredEvent, 'id' | 'position'>;
  maxAttempts: number;
  /**
   * Record it leased already (its first attempt), to a worker process waiting for it: no claim needed. `token`:
   * the lease token it was handed with before it was recorded (see {@link HandedItem}); a new one otherwise.
   */
  lease?: { by: string; leaseMs: number; token?: string };
}

/**
 * A command handed to a worker process of this daemon as soon as the step that emitted it committed, before the
 * worker feed recorded its work item (ADR 0018): the item as it is to be recorded, leased with the token it was
 * handed with.
 */
export type HandedItem = WorkItem & { lease: { by: string; leaseMs: number; token: string } };

/** A work item recorded leased by {@link WorkQueue.enqueue}. */
export interface LeasedItem {
  worker: string;
  eventId: string;
  leaseToken: string;
  leaseExpiresAt: string;
}

/** A command leased to one worker process. */
export interface ClaimedCommand {
  command: EventEnvelope;
  /** 1 on first delivery. */
  attempt: number;
  /** Proves the lease when completing, failing or extending: a later claim of the same command changes it. */
  leaseToken: string;
  /** When the lease ends: after it the command may be given to another worker. */
  leaseExpiresAt: string;
}

/** A worker's state, for `status`. */
export interface WorkerState {
  name: string;
  handles: string[];
  /** Commands waiting (including those waiting for a retry). */
  waiting: number;
  /** Commands leased to a worker now. */
  inFlight: number;
  /** Open dead letters of this worker. */
  deadLetters: number;
  /** The last claim (to within ten seconds): when and by which worker process. */
  seenAt: string | null;
  seenBy: string | null;
}

/** Outcome of failing a leased command. */
export type FailOutcome = 'retrying' | 'dead-lettered' | 'lease-lost';

/**
 * The commands workers have to answer (ADR 0010). The worker feed `enqueue`s each page of the log; workers
 * `claim` under a lease and `complete` (replies appended in the same transaction) or `fail` (retried after a
 * delay, or dead-lettered). A lease that ends unanswered makes the command claimable again.
 */
export interface WorkQueue {
  /** Creates or updates a worker; a new one takes the commands that commit from now on. */
  register(worker: WorkerRegistration): Promise<void>;
  /** Every registered worker, with the log cursor it takes commands after. */
  registered(): Promise<RegisteredWorker[]>;
  /**
   * Records work items (idempotent: an item recorded before, even done, is left alone) and wakes waiting
   * workers. Returns the items it recorded leased (those with `lease` that were new) and the workers that got
   * new items to claim (recorded without a lease).
   */
  enqueue(items: readonly WorkItem[]): Promise<Enqueued>;
  /** Leases up to `max` available commands of `worker` for `leaseMs`, oldest first; `by` names the worker process. */
  claim(worker: string, options: { max: number; leaseMs: number; by: string }): Promise<ClaimedCommand[]>;
  /**
   * Completes a leased command and appends `replies` in one transaction; its event type, or undefined when the
   * lease was lost (nothing written). With `early`, a command handed before it was recorded: its work item is
   * recorded completed if the feed has not recorded it yet (and completed as usual, lease checked, if it has).
   * With `step`, the saga step of the reply is applied by the same statement when its gate holds (ADR 0020); a
   * step the database refuses (a version conflict, a lost race) is dropped and the completion made without it.
   */
  complete(worker: string, eventId: string, leaseToken: string, replies: readonly EventEnvelope[], early?: HandedItem, step?: CompletionStep): Promise<Completion | undefined>;
  /**
   * Fails an attempt: the command is retried after `retryInMs`, or dead-lettered when it has used its attempts or
   * `final` is set (e.g. a command or reply that fails its schema).
   */
  fail(
    worker: string, eventId: string, leaseToken: string, error: { message: string; code?: string }, options: { retryInMs: number; final?: boolean },
  ): Promise<{ outcome: FailOutcome; type?: string }>;
  /** Extends a held lease; false when it was lost. */
  extend(worker: string, eventId: string, leaseToken: string, leaseMs: number): Promise<boolean>;
  /** Dead-letters the commands whose last attempt's lease ended unanswered; returns how many. */
  sweepExhausted(): Promise<number>;
  /** Makes a dead-lettered command available again with fresh attempts (an operator's retry). False if unknown. */
  requeue(worker: string, eventId: string): Promise<boolean>;
  /** Forgets done commands older than `olderThanMs`. */
  purgeDone(olderThanMs: number): Promise<number>;
  list(): Promise<WorkerState[]>;
}

/**
 * A saga step decided for a worker's reply before the completion is sent, applied by the completion's own
 * statement when its gate holds (ADR 0020). Built by the saga repository; the work queue only places its SQL.
 */
export interface CompletionStep {
  /**
   * The step's SQL for the completion's statement. `p` adds a parameter and returns its reference. `lock` is
   * the condition a row lock must carry (after the statement's append lock); `gated` the condition every write
   * of the step carries (the gate held). Returns the gate (a boolean expression), the step's CTEs, its
   * emitted events (validated, appended after the replies when the gate holds) and select-list checks.
   */
  sql(p: (value: unknown) => string, conditions: { lock: string; gated: string }): { gate: string; ctes: string[]; emitted: readonly EventEnvelope[]; checks: string[] };
  /** Whether a failure of the completion's statement is the step refused (the completion is then made without it). */
  refused(err: unknown): boolean;
}

/** A completion made. */
export interface Completion {
  /** The command's event type. */
  type: string;
  /** True when the completion also applied its {@link CompletionStep}. */
  stepped: boolean;
  /** The step's emitted events as stored (when it stepped). */
  emitted: StoredEvent[];
}

/** What {@link WorkQueue.enqueue} recorded. */
export interface Enqueued {
  /** The new items recorded leased. */
  leased: LeasedItem[];
  /** Workers with new items recorded available to a claim. */
  available: string[];
}
