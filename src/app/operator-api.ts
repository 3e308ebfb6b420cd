import type { WorkerState } from '../core/ports/work-queue.js';
import type { SourcingApi } from './sourcing-api.js';
import type { AuditEntry, AuditFilter } from '../core/ports/audit-log.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { DeadLetter, DeadLetterFilter } from '../core/ports/dead-letters.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import type { SagaHistoryEntry, SagaInstance, SagaListFilter, SagaStatus, TimerEntry } from '../core/ports/saga-store.js';
import type { SagaGraph } from '../core/saga/graph.js';

/**
 * What operators can do — the contract shared by the HTTP API, its client, and the direct
 * (database) implementation. CLI commands call only this, so every command works the same against
 * a running daemon or straight on the database.
 */

export interface PublishRequest {
  type: string;
  data: Record<string, unknown>;
  streamId?: string;
  metadata?: Record<string, string>;
  /** Optional idempotency: publishing the same id twice stores it once. */
  id?: string;
}

export interface PublishResult {
  id: string;
  type: string;
  streamId: string;
  /** Global position when the event was stored. */
  position?: number;
}

export interface EventsQueryRequest {
  /** Type patterns (`*`, `task.*`, `*.created`, exact). */
  types?: string[];
  streamId?: string;
  /** A cursor from a previous page (`next`) or an event's `cursor`: read events committed after it. */
  after?: string;
  /** @default 100 */
  limit?: number;
}

export interface EventsPage {
  events: StoredEvent[];
  /** Cursor to continue from. */
  next?: string;
  /** True when the page stopped at the response size cap before `limit` events: more follow after `next`. */
  truncated?: boolean;
}

/** What `resumeSaga` did. */
export interface ResumeResult {
  saga: string;
  key: string;
  /** The resume event, in the log; the instance applies it as its next step. */
  eventId: string;
  fromState: unknown;
}

/** Everything `sagas show` prints. */
export interface SagaDetails {
  instance: SagaInstance;
  timers: TimerEntry[];
  /** The last events the instance emitted (in the event log since the step that emitted them), oldest first. */
  emitted: EventEnvelope[];
  deadLetters: DeadLetter[];
  /** The last history entries, oldest first. */
  history: SagaHistoryEntry[];
}

/** What an instance waits for (`sagas why`). */
export interface SagaWhy {
  instance: SagaInstance;
  /** Event types the current state accepts. */
  accepts: string[];
  timers: TimerEntry[];
  /** Open dead letters of this instance. */
  deadLetters: DeadLetter[];
  /** Recent history entries that did not apply (ignored, rejected, dropped). */
  rejected: SagaHistoryEntry[];
  lastStep?: SagaHistoryEntry;
  sinceLastStepMs: number;
  /** One-paragraph human explanation. */
  summary: string[];
}

export interface ReplayTarget {
  saga: string;
  key: string;
  status: string;
  updatedAt: string;
}

export const ReplayActionKind = {
  RedeliverDeadLetter: 'redeliver-dead-letter',
  FireTimer: 'fire-timer',
} as const;
export type ReplayActionKind = (typeof ReplayActionKind)[keyof typeof ReplayActionKind];

export interface ReplayAction {
  kind: ReplayActionKind;
  /** Dead letter or timer id. */
  id: string;
  description: string;
  /** Why this action was not taken. */
  skipped?: string;
}

export interface ReplayResult {
  saga: string;
  key: string;
  dryRun: boolean;
  actions: ReplayAction[];
}

export interface OperatorStatus {
  /** `daemon` through the HTTP API, `direct` on the database. */
  mode: 'daemon' | 'direct';
  database: 'postgres' | 'pglite';
  schema: string;
  sagas: string[];
  bus?: string;
  url?: string;
  pid?: number;
  startedAt?: string;
  /** The workers that answer commands (in process and remote), with their queues. */
  workers?: WorkerState[];
  /** Instances per saga version, loaded versions first-class (see {@link SagaVersionSummary}). */
  versions?: SagaVersionSummary[];
}

/** The instances of one saga version (`sagas list --version`, `status`, `GET /v1/sagas/versions`). */
export interface SagaVersionSummary {
  saga: string;
  version: number;
  /** Whether this process loads this version's definition (its instances step only where it is loaded). */
  loaded: boolean;
  /** Whether new instances start on this version (the newest loaded). */
  newest: boolean;
  /** Versions this one declares `migrateFrom` for (known for loaded versions only). */
  migratesFrom: number[];
  instances: number;
  /** Instances not completed or compensated: what still runs on this version. */
  open: number;
  byStatus: Partial<Record<SagaStatus, number>>;
}

/** One batch of `sagas migrate` (the CLI calls it until `done`). */
export interface MigrateBatchRequest {
  saga: string;
  from: number;
  to: number;
  /** Run the transforms and checks, write nothing. */
  dryRun: boolean;
  /** Instances read per batch (one transaction moves a batch). @default 500 */
  batchSize?: number;
  /** Continue after this instance key (the previous batch's `next`). */
  after?: string;
}

/** An instance a migration could not move: it stays on its version. */
export interface MigrationFailure {
  key: string;
  error: { code: string; message: string; details: Record<string, unknown> };
}

/** What one batch of `sagas migrate` did (or, dry, would do). */
export interface MigrateBatchResult {
  saga: string;
  from: number;
  to: number;
  dryRun: boolean;
  /** Unfinished instances of version `from` this batch read. */
  read: number;
  /** Instances moved (dry run: that would move). */
  moved: number;
  failed: MigrationFailure[];
  /** Where the next batch continues; absent when this batch was the last. */
  next?: string;
}

/** How many instances are in each status (`sagas` counts, the dashboard). */
export interface SagaCounts {
  saga?: string;
  total: number;
  /** Statuses with no instance are 0. */
  byStatus: Record<SagaStatus, number>;
}

/** A loaded saga's definition, for tools (the dashboard draws its statechart from `graph`). */
export interface SagaDefinitionInfo {
  name: string;
  version: number;
  /** Event types it declares. */
  events: string[];
  graph: SagaGraph;
}

export interface MigrateSummary {
  applied: string[];
  current: number;
}

/** The operator contract (see module doc). Every method throws typed errors (`NOT_FOUND`, `VALIDATION`, ...). */
export interface OperatorApi extends SourcingApi {
  status(): Promise<OperatorStatus>;
  migrate(): Promise<MigrateSummary>;
  publish(request: PublishRequest): Promise<PublishResult>;
  queryEvents(request: EventsQueryRequest): Promise<EventsPage>;
  /** Cursor of the newest stored event (where `events tail` starts), undefined when the log is empty. */
  latestCursor(): Promise<string | undefined>;
  listDeadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]>;
  getDeadLetter(id: string): Promise<DeadLetter>;
  retryDeadLetter(id: string): Promise<DeadLetter>;
  discardDeadLetter(id: string, reason: string): Promise<DeadLetter>;
  listSagas(filter: SagaListFilter): Promise<SagaInstance[]>;
  /** Instances per status, of one saga or of all. */
  sagaCounts(filter: { saga?: string }): Promise<SagaCounts>;
  /** The definition (and statechart graph) of a saga this process loads; NOT_FOUND otherwise. */
  sagaDefinition(saga: string): Promise<SagaDefinitionInfo>;
  showSaga(saga: string, key: string): Promise<SagaDetails>;
  sagaHistory(saga: string, key: string): Promise<SagaHistoryEntry[]>;
  whySaga(saga: string, key: string): Promise<SagaWhy>;
  /** Instances still running/compensating and not updated for `olderThanMs`. */
  replayTargets(filter: { saga?: string; olderThanMs: number; limit?: number }): Promise<ReplayTarget[]>;
  replay(saga: string, key: string, options: { dryRun: boolean }): Promise<ReplayResult>;
  /**
   * Resumes a `failed` instance whose state takes the operator's resume (`sagaflow.resume`, e.g. a
   * `resumableFailedState`): publishes the resume event with the reason, which the instance applies as a step
   * (recorded in its history). INVALID_STATE when it is not failed or cannot be resumed from its state.
   */
  resumeSaga(saga: string, key: string, options: { reason: string }): Promise<ResumeResult>;
  /** Instances per saga version (of `saga`, or of every saga), with the loaded versions and their migrations. */
  sagaVersions(saga?: string): Promise<SagaVersionSummary[]>;
  /**
   * One batch of a migration of unfinished instances from version `from` to `to` through `to`'s
   * `migrateFrom[from]`: each instance whose transform succeeds moves (with a history row); one whose transform
   * fails stays on its version and is listed in `failed`. VALIDATION when `to` is not loaded or declares no
   * migration from `from`.
   */
  migrateSagas(request: MigrateBatchRequest): Promise<MigrateBatchResult>;
  /** The audit log of changes made through the HTTP API, newest first. */
  listAudit(filter: AuditFilter): Promise<AuditEntry[]>;
  close(): Promise<void>;
}
