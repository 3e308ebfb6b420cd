import type { WorkerState } from '../core/ports/work-queue.js';
import type { Logger } from 'pino';
import pino from 'pino';
import { ErrorCode, NotFoundError, SagaflowError, UnavailableError, ValidationError } from '../core/errors.js';
import { createEvent, jsonByteLength, type EventEnvelope } from '../core/events/envelope.js';
import { compilePattern } from '../core/events/pattern.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { DeadLetter, DeadLetterFilter, DeadLetters } from '../core/ports/dead-letters.js';
import type { AuditEntry, AuditFilter, AuditLog } from '../core/ports/audit-log.js';
import type { EventStore } from '../core/ports/event-store.js';
import { SagaStatus, type SagaHistoryEntry, type SagaInstance, type SagaListFilter, type SagaQueries, type TimerEntry } from '../core/ports/saga-store.js';
import { sagaGraph } from '../core/saga/graph.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { formatDuration } from '../config/duration.js';
import type {
  EventsPage, EventsQueryRequest, MigrateBatchRequest, MigrateBatchResult, MigrateSummary, OperatorApi, OperatorStatus, PublishRequest,
  PublishResult, ReplayAction, ReplayResult, ReplayTarget, ResumeResult, SagaCounts, SagaDefinitionInfo, SagaDetails, SagaVersionSummary, SagaWhy,
} from './operator-api.js';
import type { SagaMigrationStore } from '../core/ports/saga-migrations.js';
import { SagaMigrationService } from './saga-migration.js';
import { ReplayActionKind } from './operator-api.js';
import type {
  ProjectionState, RebuildProgress, ReplayEventsRequest, ReplayEventsResult, RetentionRequest, RetentionResult, SourcingApi,
} from './sourcing-api.js';
import { acceptedEvents } from './saga-introspection.js';
import type { CompensationLog } from '../core/saga/compensation.js';
import { RESUME_EVENT } from '../core/saga/resume.js';

/** The most event data (and metadata, as JSON bytes) one page of `queryEvents` returns: 4 MiB. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

/** How the operator reaches the engine; the daemon and the direct (CLI) mode fill these differently. */
export interface OperatorServiceOptions {
  mode: 'daemon' | 'direct';
  /** Which database the engine runs on (reported by `status`). */
  database: 'postgres' | 'pglite';
  schema: string;
  /** Applies pending migrations. */
  migrate(): Promise<MigrateSummary>;
  store: EventStore;
  deadLetters: DeadLetters;
  /** The audit log the HTTP API writes; without it `listAudit` answers UNAVAILABLE. */
  audit?: AuditLog;
  registry: EventTypeRegistry;
  sagas: readonly SagaDefinition[];
  /** Saga read side; without it saga commands answer UNAVAILABLE. */
  queries?: SagaQueries;
  /** Makes an accepted event durable and delivers it (daemon: the bus; direct: the event store). */
  publish(event: EventEnvelope): Promise<{ position?: number }>;
  /** Re-applies a dead-lettered event to the saga or handler that failed it. */
  redeliver(letter: DeadLetter): Promise<void>;
  /** Fires one due timer through the step (claimed, so at most once). */
  fireTimer?: (timer: TimerEntry) => Promise<void>;
  clock?: Clock;
  logger?: Logger;
  status?: Partial<OperatorStatus>;
  /** The workers and their queues, for `status`. */
  workers?: () => Promise<WorkerState[]>;
  /** Projections, event replay and retention; without it those commands answer UNAVAILABLE. */
  sourcing?: SourcingApi;
  /** Storage of `sagas migrate`; without it migrations answer UNAVAILABLE. */
  migrations?: SagaMigrationStore;
}

const openStatuses = new Set(['running', 'compensating', 'suspended']);

/**
 * The operator's application service: {@link OperatorApi} (publish, inspect, why, replay, dead letters,
 * events) over the engine's ports, in this process. The HTTP API serves it in the daemon; the CLI calls it
 * directly when no daemon holds the database. Driver-free: what it needs from storage comes in as ports.
 */
export class OperatorService implements OperatorApi {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly sagaByName: Map<string, SagaDefinition>;
  private versionService: SagaMigrationService | undefined;

  constructor(private readonly o: OperatorServiceOptions) {
    this.clock = o.clock ?? systemClock;
    this.logger = o.logger ?? pino({ level: 'silent' });
    this.sagaByName = new Map(o.sagas.map((s) => [s.name, s]));
  }

  async status(): Promise<OperatorStatus> {
    const [workers, versions] = await Promise.all([this.o.workers?.(), this.o.queries ? this.sagaVersions() : undefined]);
    return {
      mode: this.o.mode, database: this.o.database, schema: this.o.schema, sagas: [...this.sagaByName.keys()], ...this.o.status,
      ...(workers ? { workers } : {}), ...(versions ? { versions } : {}),
    };
  }

  sagaVersions(saga?: string): Promise<SagaVersionSummary[]> {
    return this.versions.versions(saga);
  }

  migrateSagas(request: MigrateBatchRequest): Promise<MigrateBatchResult> {
    return this.versions.migrateBatch(request);
  }

  /** Versions and migrations (src/app/saga-migration.ts), over this service's queries. */
  private get versions(): SagaMigrationService {
    this.versionService ??= new SagaMigrationService({
      sagas: this.o.sagas, queries: this.queries, logger: this.logger, ...(this.o.migrations ? { store: this.o.migrations } : {}),
    });
    return this.versionService;
  }

  async migrate(): Promise<MigrateSummary> {
    return this.o.migrate();
  }

  async publish(request: PublishRequest): Promise<PublishResult> {
    const { registry } = this.o;
    const event = registry.validate(
      createEvent(
        {
          type: request.type,
          data: request.data,
          ...(request.id ? { id: request.id } : {}),
          ...(request.streamId ? { streamId: request.streamId } : {}),
          ...(request.metadata ? { metadata: request.metadata } : {}),
        },
        this.clock.now(),
      ),
    );
    const { position } = await this.o.publish(event);
    this.logger.info({ eventId: event.id, type: event.type, streamId: event.streamId }, 'event published by operator');
    return { id: event.id, type: event.type, streamId: event.streamId, ...(position !== undefined ? { position } : {}) };
  }

  async queryEvents(request: EventsQueryRequest): Promise<EventsPage> {
    const limit = request.limit ?? 100;
    if (request.after !== undefined) {
      // Gap-free read after the cursor, filtered here, in pages of at most 100 events, until `limit` events or
      // MAX_RESPONSE_BYTES of them; `next` is the last cursor read (even when filtered out), so a page cut by
      // the byte cap continues where it stopped.
      const matchers = (request.types ?? []).map(compilePattern);
      const out: EventsPage['events'] = [];
      let after: string | undefined = request.after;
      let bytes = 0;
      let truncated = false;
      read: for (let pages = 0; pages < 200 && out.length < limit; pages++) {
        const page = await this.o.store.readAll({ after, limit: Math.min(limit, 100) });
        if (page.events.length === 0) break;
        for (const e of page.events) {
          if (out.length >= limit) break read;
          if (request.streamId !== undefined && e.streamId !== request.streamId) {
            after = e.cursor;
            continue;
          }
          if (matchers.length > 0 && !matchers.some((m) => m(e.type))) {
            after = e.cursor;
            continue;
          }
          const size = jsonByteLength(e.data) + jsonByteLength(e.metadata);
          if (out.length > 0 && bytes + size > MAX_RESPONSE_BYTES) {
            truncated = true;
            break read;
          }
          bytes += size;
          after = e.cursor;
          out.push(e);
        }
      }
      return { events: out, ...(after !== undefined ? { next: after } : {}), ...(truncated ? { truncated } : {}) };
    }
    // Without a cursor: the newest `limit` matching events (fewer when they pass MAX_RESPONSE_BYTES), oldest first.
    const events = (
      await this.o.store.query({
        ...(request.types ? { types: request.types } : {}),
        ...(request.streamId ? { streamIds: [request.streamId] } : {}),
        limit,
        order: 'desc',
        maxBytes: MAX_RESPONSE_BYTES,
      })
    ).reverse();
    const next = events.at(-1)?.cursor;
    return { events, ...(next !== undefined ? { next } : {}) };
  }

  async latestCursor(): Promise<string | undefined> {
    const [last] = await this.o.store.query({ limit: 1, order: 'desc' });
    return last?.cursor;
  }

  listDeadLetters(filter: DeadLetterFilter): Promise<DeadLetter[]> {
    return this.o.deadLetters.list(filter);
  }

  async getDeadLetter(id: string): Promise<DeadLetter> {
    const letter = await this.o.deadLetters.get(id);
    if (!letter) throw new NotFoundError('dead letter', id);
    return letter;
  }

  async retryDeadLetter(id: string): Promise<DeadLetter> {
    const letter = await this.getDeadLetter(id);
    if (letter.status !== 'open') throw new SagaflowError(ErrorCode.Validation, `dead letter ${id} is ${letter.status}, not open; nothing to retry`, { details: { id, status: letter.status } });
    // Deliver first, then mark: if delivery fails (database down) the letter stays open for the next try.
    // Two operators racing both deliver; the saga step's inbox makes the second a no-op, and only one
    // of them marks the letter (the other is told it lost the race).
    await this.o.redeliver(letter);
    if (!(await this.o.deadLetters.resolve(id, 'retried', `retried by operator at ${this.clock.now().toISOString()}`))) {
      throw new SagaflowError(ErrorCode.Concurrency, `dead letter ${id} was resolved by someone else meanwhile`, { details: { id } });
    }
    return this.getDeadLetter(id);
  }

  async discardDeadLetter(id: string, reason: string): Promise<DeadLetter> {
    const letter = await this.getDeadLetter(id);
    if (letter.status !== 'open') throw new SagaflowError(ErrorCode.Validation, `dead letter ${id} is ${letter.status}, not open; nothing to discard`, { details: { id, status: letter.status } });
    if (!reason.trim()) throw new ValidationError('discard request', [{ path: 'reason', message: 'a reason is required' }]);
    if (!(await this.o.deadLetters.resolve(id, 'discarded', reason))) {
      throw new SagaflowError(ErrorCode.Concurrency, `dead letter ${id} was resolved by someone else meanwhile`, { details: { id } });
    }
    return this.getDeadLetter(id);
  }

  private get queries(): SagaQueries {
    if (!this.o.queries) throw new UnavailableError('saga queries are not available in this build (the saga runtime is not wired)');
    return this.o.queries;
  }

  private saga(name: string): SagaDefinition | undefined {
    return this.sagaByName.get(name);
  }

  private async instance(saga: string, key: string): Promise<SagaInstance> {
    const instance = await this.queries.get(saga, key);
    if (instance) return instance;
    if (!this.sagaByName.has(saga)) throw this.unknownSaga(saga);
    throw new NotFoundError(`${saga} instance`, key);
  }

  listSagas(filter: SagaListFilter): Promise<SagaInstance[]> {
    if (filter.saga !== undefined && !this.sagaByName.has(filter.saga) && this.sagaByName.size > 0) return Promise.reject(this.unknownSaga(filter.saga));
    return this.queries.list(filter);
  }

  async sagaCounts(filter: { saga?: string }): Promise<SagaCounts> {
    if (filter.saga !== undefined && !this.sagaByName.has(filter.saga) && this.sagaByName.size > 0) throw this.unknownSaga(filter.saga);
    const counts = await this.queries.statusCounts(filter.saga);
    const byStatus = Object.fromEntries(Object.values(SagaStatus).map((s) => [s, counts[s] ?? 0])) as Record<SagaStatus, number>;
    return { ...(filter.saga === undefined ? {} : { saga: filter.saga }), total: Object.values(byStatus).reduce((a, b) => a + b, 0), byStatus };
  }

  async sagaDefinition(saga: string): Promise<SagaDefinitionInfo> {
    const def = this.loaded(saga);
    return { name: def.name, version: def.version, events: Object.keys(def.events).sort(), graph: sagaGraph(def.machine) };
  }

  /** A saga this process loads, or NOT_FOUND naming the ones it does. */
  private loaded(saga: string): SagaDefinition {
    const def = this.sagaByName.get(saga);
    if (def) return def;
    throw this.unknownSaga(saga);
  }

  private unknownSaga(saga: string): SagaflowError {
    const known = [...this.sagaByName.keys()].join(', ') || '(none loaded)';
    return new SagaflowError(ErrorCode.NotFound, `unknown saga "${saga}"; known sagas: ${known}`, { details: { what: 'saga', id: saga } });
  }

  async showSaga(saga: string, key: string): Promise<SagaDetails> {
    const instance = await this.instance(saga, key);
    const [timers, emitted, deadLetters, history] = await Promise.all([
      this.queries.timers(saga, key),
      this.queries.emitted(saga, key),
      this.o.deadLetters.list({ saga, sagaKey: key }),
      this.queries.history(saga, key),
    ]);
    return { instance, timers, emitted: emitted.slice(-10), deadLetters, history: history.slice(-10) };
  }

  async sagaHistory(saga: string, key: string): Promise<SagaHistoryEntry[]> {
    await this.instance(saga, key);
    return this.queries.history(saga, key);
  }

  async whySaga(saga: string, key: string): Promise<SagaWhy> {
    const instance = await this.instance(saga, key);
    const [timers, deadLetters, history] = await Promise.all([
      this.queries.timers(saga, key),
      this.o.deadLetters.list({ saga, sagaKey: key, status: 'open' }),
      this.queries.history(saga, key),
    ]);
    const def = this.saga(saga);
    const accepts = def ? acceptedEvents(def, instance) : [];
    const rejected = history.filter((h) => h.kind !== 'applied' && h.kind !== 'created').slice(-10);
    const lastStep = history.at(-1);
    const now = this.clock.now().getTime();
    const sinceLastStepMs = Math.max(0, now - new Date(lastStep?.at ?? instance.updatedAt).getTime());
    const summary: string[] = [];
    const state = typeof instance.state === 'string' ? instance.state : JSON.stringify(instance.state);
    if (!openStatuses.has(instance.status)) {
      summary.push(`${saga} ${key} is ${instance.status} (state ${state}); it waits for nothing.`);
    } else {
      summary.push(`${saga} ${key} is ${instance.status} in state ${state}, last step ${formatDuration(sinceLastStepMs)} ago.`);
      if (accepts.length > 0) summary.push(`It waits for one of: ${accepts.join(', ')}.`);
      else if (!def) summary.push(`Saga ${saga} is not loaded here, so the events it accepts are unknown.`);
      for (const t of timers) {
        const due = new Date(t.dueAt).getTime();
        summary.push(due <= now ? `Timer ${t.event.type} was due ${formatDuration(now - due)} ago and has not fired (is a daemon running?).` : `Timer ${t.event.type} fires in ${formatDuration(due - now)} (${t.dueAt}).`);
      }
      if (timers.length === 0 && accepts.length > 0) summary.push('No timer is pending: only an incoming event moves it on.');
    }
    // The compensation convention (core/saga/compensation.ts): say which undo it waits for, and why it failed.
    const log = compensationLogOf(instance.context);
    if (log) {
      const pending = log.steps.at(-1);
      if (instance.status === 'compensating' && pending) {
        const match = pending.match && Object.keys(pending.match).length > 0 ? ` with ${Object.entries(pending.match).map(([k, v]) => `data.${k} = ${JSON.stringify(v)}`).join(' and ')}` : '';
        summary.push(
          pending.reply
            ? `It is undoing step "${pending.step}" (${pending.command.type} sent${log.attempt > 0 ? `, attempt ${log.attempt + 1}` : ''}): it waits for ${pending.reply}${match}${pending.failure ? ` (or ${pending.failure}${match} if the undo failed)` : ''}; other events of those types do not count.`
            : `It is undoing step "${pending.step}" (${pending.command.type}, fire-and-forget).`,
        );
        if (log.steps.length > 1) summary.push(`Still to undo after it: ${log.steps.slice(0, -1).reverse().map((s) => s.step).join(', ')}.`);
      }
      if (log.errors.length > 0 && (instance.status === 'failed' || instance.status === 'compensating')) {
        summary.push(`Compensation errors (newest last): ${log.errors.slice(-5).join('; ')}.`);
      }
    }
    if (deadLetters.length > 0) summary.push(`${deadLetters.length} event(s) for it are dead-lettered: ${deadLetters.map((d) => `${d.event.type} (${d.error.message})`).join('; ')}. Fix the cause, then \`sagaflow replay ${saga} ${key}\`.`);
    if (rejected.length > 0) {
      summary.push(`${rejected.length} recent event(s) did not apply: ${rejected.map((r) => `${r.eventType} (${r.kind})`).join(', ')}.`);
      if (rejected.some((r) => r.kind === 'ignored')) summary.push('"ignored": the state does not take that event, or a guard refused it (a reply whose data did not match, for example).');
    }
    return { instance, accepts, timers, deadLetters, rejected, ...(lastStep ? { lastStep } : {}), sinceLastStepMs, summary };
  }

  async replayTargets(filter: { saga?: string; olderThanMs: number; limit?: number }): Promise<ReplayTarget[]> {
    const found = await this.listSagas({ ...(filter.saga ? { saga: filter.saga } : {}), stuckForMs: filter.olderThanMs, limit: filter.limit ?? 1000 });
    return found.filter((i) => openStatuses.has(i.status)).map((i) => ({ saga: i.saga, key: i.key, status: i.status, updatedAt: i.updatedAt }));
  }

  async resumeSaga(saga: string, key: string, options: { reason: string }): Promise<ResumeResult> {
    const instance = await this.instance(saga, key);
    const def = this.saga(saga);
    if (!def) throw new UnavailableError(`saga ${saga} is not loaded here, so it cannot be resumed`);
    const state = typeof instance.state === 'string' ? instance.state : JSON.stringify(instance.state);
    if (instance.status !== 'failed') {
      throw new SagaflowError(ErrorCode.InvalidState, `${saga} ${key} is ${instance.status}, not failed: only a failed instance is resumed (a stuck one: sagaflow replay)`, { details: { status: instance.status } });
    }
    if (!acceptedEvents(def, instance).includes(RESUME_EVENT)) {
      throw new SagaflowError(ErrorCode.InvalidState, `${saga} cannot be resumed from state ${state}: the state does not handle ${RESUME_EVENT} (see resumableFailedState in docs/sagas.md)`, { details: { state: instance.state } });
    }
    const event = this.o.registry.validate(createEvent({ type: RESUME_EVENT, data: { saga, key, reason: options.reason } }, this.clock.now()));
    await this.o.publish(event);
    this.logger.info({ saga, sagaKey: key, eventId: event.id }, 'saga resume requested by operator');
    return { saga, key, eventId: event.id, fromState: instance.state };
  }

  async replay(saga: string, key: string, options: { dryRun: boolean }): Promise<ReplayResult> {
    await this.instance(saga, key);
    const now = this.clock.now().getTime();
    const [letters, timers] = await Promise.all([
      this.o.deadLetters.list({ saga, sagaKey: key, status: 'open' }),
      this.queries.timers(saga, key),
    ]);
    const overdue = timers.filter((t) => new Date(t.dueAt).getTime() <= now);
    const actions: ReplayAction[] = [
      ...letters.map((l) => ({ kind: ReplayActionKind.RedeliverDeadLetter, id: l.id, description: `redeliver ${l.event.type} ${l.event.id} (failed: ${l.error.message})` })),
      ...overdue.map((t) => ({ kind: ReplayActionKind.FireTimer, id: t.id, description: `fire ${t.event.type}, due ${t.dueAt}` })),
    ];
    if (!options.dryRun) {
      for (const l of letters) await this.retryDeadLetter(l.id).catch((err: unknown) => {
        // Resolved by a racing operator or replay: already handled, which is what replay wants.
        if (!(err instanceof SagaflowError && err.code === ErrorCode.Concurrency)) throw err;
      });
      for (const t of overdue) {
        if (!this.o.fireTimer) throw new UnavailableError('firing timers is not available here');
        await this.o.fireTimer(t);
      }
      this.logger.info({ saga, sagaKey: key, actions: actions.length }, 'instance replayed by operator');
    }
    return { saga, key, dryRun: options.dryRun, actions };
  }

  private get sourcing(): SourcingApi {
    if (!this.o.sourcing) throw new UnavailableError('projections, event replay and retention are not available here');
    return this.o.sourcing;
  }

  listProjections(): Promise<ProjectionState[]> {
    return this.sourcing.listProjections();
  }

  projectionStatus(name: string): Promise<ProjectionState> {
    return this.sourcing.projectionStatus(name);
  }

  resetProjection(name: string): Promise<ProjectionState> {
    return this.sourcing.resetProjection(name);
  }

  rebuildProjection(name: string, options?: { onProgress?: (p: RebuildProgress) => void }): Promise<ProjectionState> {
    return this.sourcing.rebuildProjection(name, options);
  }

  replayEvents(request: ReplayEventsRequest): Promise<ReplayEventsResult> {
    return this.sourcing.replayEvents(request);
  }

  retention(request: RetentionRequest): Promise<RetentionResult> {
    return this.sourcing.retention(request);
  }

  listAudit(filter: AuditFilter): Promise<AuditEntry[]> {
    if (!this.o.audit) return Promise.reject(new UnavailableError('the audit log is not available here'));
    return this.o.audit.list(filter);
  }

  async close(): Promise<void> {}
}

/** The instance's compensation log, when its context keeps one (`context.compensation`). */
function compensationLogOf(context: Record<string, unknown>): CompensationLog | undefined {
  const c = context.compensation as Partial<CompensationLog> | undefined;
  return c && Array.isArray(c.steps) && Array.isArray(c.errors) && typeof c.attempt === 'number' ? (c as CompensationLog) : undefined;
}
