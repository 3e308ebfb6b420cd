import type { EventEnvelope } from '../events/envelope.js';

/** Status derived from the saga's current state (see `docs/sagas.md`). */
export const SagaStatus = {
  Running: 'running',
  Completed: 'completed',
  Compensating: 'compensating',
  Compensated: 'compensated',
  Failed: 'failed',
  Suspended: 'suspended',
} as const;
export type SagaStatus = (typeof SagaStatus)[keyof typeof SagaStatus];

/** One saga instance as stored. */
export interface SagaInstance {
  saga: string;
  key: string;
  /** Row version, +1 per applied step (optimistic concurrency). */
  version: number;
  /** Saga definition version that started (and runs) this instance. */
  definitionVersion: number;
  status: SagaStatus;
  /** xstate state value, e.g. `"awaitingCompletion"` or `{ compensating: "releasingAgent" }`. */
  state: unknown;
  context: Record<string, unknown>;
  /** The persisted xstate snapshot (JSON). */
  snapshot: unknown;
  createdAt: string;
  updatedAt: string;
}

/** What a step produced, as recorded in history. */
export interface StepEffects {
  emitted: Array<{ id: string; type: string }>;
  timersScheduled: Array<{ id: string; event: string; dueAt: string }>;
  timersCancelled: string[];
}

/** One history row: an event applied (or noted) on an instance. */
export interface SagaHistoryEntry {
  seq: number;
  saga: string;
  key: string;
  eventId: string;
  eventType: string;
  fromState: unknown;
  toState: unknown;
  effects: StepEffects;
  /** e.g. 'applied', 'ignored' (not accepted in this state), 'timer-dropped', 'after-completion'. */
  kind: string;
  note?: string;
  at: string;
}

/** A durable timer: a delayed event for an instance. */
export interface TimerEntry {
  /** xstate send id (`xstate.after.<delay>.<stateId>` or the raise's `id`), unique per instance. */
  id: string;
  saga: string;
  key: string;
  event: { type: string } & Record<string, unknown>;
  dueAt: string;
}

export interface SagaListFilter {
  saga?: string;
  status?: SagaStatus;
  /** Only instances running on this definition version. */
  definitionVersion?: number;
  /** Only instances not updated for this many ms while still running/compensating. */
  stuckForMs?: number;
  limit?: number;
}

/** Read side of saga storage, for operators (CLI, HTTP API). */
export interface SagaQueries {
  list(filter?: SagaListFilter): Promise<SagaInstance[]>;
  get(saga: string, key: string): Promise<SagaInstance | undefined>;
  history(saga: string, key: string, options?: { limit?: number }): Promise<SagaHistoryEntry[]>;
  timers(saga: string, key: string): Promise<TimerEntry[]>;
  /**
   * Events the instance emitted, oldest first. They entered the event log in the step that emitted
   * them (the log is the outbox), so there is no "unsent" state to show.
   */
  emitted(saga: string, key: string, options?: { limit?: number }): Promise<EventEnvelope[]>;
  /** The name of every saga with at least one instance stored, sorted: what a deployment must load to run them. */
  sagaNames(): Promise<string[]>;
  /** How many instances are in each status (statuses with none are left out), of one saga or of all. */
  statusCounts(saga?: string): Promise<Partial<Record<SagaStatus, number>>>;
  /** How many instances each (saga, definition version, status) has, sorted by saga, version, status. Reads every instance. */
  versionCounts(saga?: string): Promise<SagaVersionCount[]>;
}

/** The number of instances of one saga on one definition version in one status. */
export interface SagaVersionCount {
  saga: string;
  definitionVersion: number;
  status: SagaStatus;
  instances: number;
}
