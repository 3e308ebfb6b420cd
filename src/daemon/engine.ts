import os from 'node:os';
import type { Logger } from 'pino';
import pino from 'pino';
import { OperatorService } from '../app/operator-service.js';
import type { SagaflowConfig } from '../config/schema.js';
import type { DurableEventBus } from '../core/bus/durable-bus.js';
import { UnavailableError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import type { DeadLetter } from '../core/ports/dead-letters.js';
import type { AuditLog } from '../core/ports/audit-log.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { combineVersions } from '../core/saga/versions.js';
import type { SagaflowMetrics } from '../observability/metrics.js';
import type { PostgresEventStore } from '../postgres/event-store.js';
import { migrate } from '../postgres/migrate.js';
import type { PostgresSagaRepository } from '../postgres/saga-repository.js';
import { PostgresSagaMigrations } from '../postgres/saga-migrations.js';
import type { SagaRuntime } from '../runtime/saga-runtime.js';
import type { OpenedDatabase } from './database.js';
import { buildDelivery, SAGA_GROUP } from './delivery.js';
import { buildStorage } from './storage.js';
import { WorkService } from '../app/work-service.js';
import type { HandlerDefinition } from '../core/worker/define-handler.js';
import { WorkerLoop } from '../core/worker/worker-loop.js';
import { SourcingService } from '../app/sourcing-service.js';
import type { LogReader } from '../core/bus/shared-log-reads.js';
import type { Fence } from '../core/ports/leases.js';
import type { ProjectionDefinition } from '../core/sourcing/projection.js';
import type { RetentionRules } from '../core/ports/retention.js';
import { projectionLease, ProjectionRunner } from '../runtime/projection-runner.js';
import { RetentionJob } from '../runtime/retention-job.js';
import { StatisticsJob } from '../runtime/statistics-job.js';
import type { AggregateCommand, AggregateDefinition, AggregateEventSchemas, AnyAggregateDefinition } from '../core/sourcing/aggregate.js';
import { AggregateRepository } from '../core/sourcing/aggregate-repository.js';
import type { AppendOptions } from '../core/ports/event-store.js';
import { tracePublish } from '../core/tracing/spans.js';

export { RELAY_LEASE, SAGA_GROUP } from './delivery.js';

export interface EngineOptions {
  config: SagaflowConfig;
  database: OpenedDatabase;
  sagas: readonly SagaDefinition[];
  /** Command handlers the daemon runs in process (daemon mode). */
  handlers?: readonly HandlerDefinition[];
  /** Projections the daemon keeps (daemon mode) and the operator administers (both modes). */
  projections?: readonly ProjectionDefinition[];
  /** Aggregate types whose streams retention keeps beyond their latest snapshot (besides those of `aggregates`). */
  aggregateTypes?: readonly string[];
  /** Event-sourced aggregates: their event types are registered (publishing them validates their data) and retention keeps their streams. */
  aggregates?: readonly AnyAggregateDefinition[];
  /** `daemon`: bus, relay, saga reader, leases and timer poller. `direct`: steps run in this process on demand, no bus. */
  mode: 'daemon' | 'direct';
  /** This process's identity in leases and notifications. @default host:pid:random */
  instanceId?: string;
  logger?: Logger;
  metrics?: SagaflowMetrics;
}

/** The engine parts, wired (see {@link createEngine}). */
export interface Engine {
  readonly store: PostgresEventStore;
  readonly repository: PostgresSagaRepository;
  readonly registry: EventTypeRegistry;
  readonly runtime: SagaRuntime;
  /** The durable bus (daemon mode): `publish` appends to the store, a relay carries events to the transport. */
  readonly bus: DurableEventBus | undefined;
  readonly operator: OperatorService;
  /** Where the HTTP API records operator changes (`sagaflow audit` lists them). */
  readonly auditLog: AuditLog;
  /** Worker delivery (daemon mode): what in-process loops and the HTTP API's `/v1/workers` use. */
  readonly work: WorkService | undefined;
  /** This process's identity in leases (`host:pid:random`). */
  readonly instanceId: string;
  /**
   * A repository of `definition`'s aggregates on this engine's store, snapshotting every
   * `store.snapshotFrequency` versions; saved events take the publish path (group commit, then delivery).
   */
  aggregates<S, E extends AggregateEventSchemas, C extends Record<string, AggregateCommand<S, E, never>>>(definition: AggregateDefinition<S, E, C>): AggregateRepository<S, E, C>;
  /** Starts delivery: leases, the saga reader, the relay, the timer poller (daemon mode). */
  start(): Promise<void>;
  /** Each dependency this configuration uses (`database`, `redis`) and its state: `ok` or what is wrong. */
  health(): Promise<Record<string, string>>;
  /** Stops taking work and drains work in flight for up to `drainTimeoutMs`. Does not close the database. */
  stop(options?: { drainTimeoutMs?: number }): Promise<void>;
}

/** `host:pid:random`, in the characters a lease owner and a notification payload allow. */
function defaultInstanceId(): string {
  return `${os.hostname().replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 60)}:${process.pid}:${Math.random().toString(36).slice(2, 8)}`;
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err)) || 'failed';

/**
 * Composes an engine on an open database from three builders — storage (`storage.ts`), delivery
 * (`delivery.ts`: transport, relay, leases, saga reader, runtime) and the operator service (`app/`) — for the
 * daemon (`startDaemon`) and for the CLI's direct mode.
 *
 * Every publish (API, CLI, handler reply) takes one path: appended to the event log, then this process's
 * followers are woken (daemon) or the steps run here (direct: no daemon holds the database; a daemon that
 * reads the log later finds them applied, thanks to the inbox). Every event a step emits is appended in the
 * step's own transaction: the log is the outbox.
 */
export function createEngine(options: EngineOptions): Engine {
  const { config, database, mode } = options;
  // Versions of one saga loaded side by side become one definition per saga name (core/saga/versions.ts).
  const sagas = combineVersions(options.sagas);
  const logger = options.logger ?? pino({ level: 'silent' });
  const instanceId = options.instanceId ?? defaultInstanceId();
  const storage = buildStorage(config, database, sagas, instanceId);
  const { store, repository, registry } = storage;
  const projections = options.projections ?? [];
  const leaseTtlMs = config.processing.leaseTtlMs;
  const runnerOf = (definition: ProjectionDefinition, reader: LogReader, fence: () => Fence | undefined, lost: () => void, onPage?: () => Promise<void>) => new ProjectionRunner({
    definition, reader, fence, lost, db: database.db, checkpoints: storage.projections, head: () => store.headCursor(),
    batchSize: config.processing.batchSize, logger, ...(onPage ? { onPage } : {}),
  });
  const aggregateTypes = new Set([...(options.aggregateTypes ?? []), ...(options.aggregates ?? []).map((a) => a.type)]);
  const retentionRules = {
    days: config.store.retentionDays, mode: config.store.retentionMode, aggregateTypes: () => [...aggregateTypes],
    plan: (rules: RetentionRules) => storage.retention.plan(rules),
    run: (rules: RetentionRules, retentionMode: 'delete' | 'archive') => storage.retention.run(rules, retentionMode),
  };
  const delivery = buildDelivery({
    config, database, storage, sagas, mode, instanceId, logger, metrics: options.metrics,
    followers: ({ reads, fence, lost }) => [
      ...projections.map((p) => runnerOf(p, reads, () => fence(projectionLease(p.name)), () => lost(projectionLease(p.name)))),
      ...(config.store.retentionDays > 0 ? [new RetentionJob({ run: () => sourcing.retention({ dryRun: false }), logger })] : []),
      new StatisticsJob({ run: () => storage.statistics.refresh(), logger }),
    ],
  });
  const { runtime, bus } = delivery;
  const sagaByName = new Map(sagas.map((s) => [s.name, s]));
  const handlers = options.handlers ?? [];
  const retry = config.processing.retry;
  const work = mode === 'daemon'
    ? new WorkService({
        queue: storage.workQueue, waiters: delivery.waiters, maxAttempts: retry.maxAttempts,
        backoff: { type: retry.backoff, initialMs: retry.initialMs, maxMs: retry.maxMs },
        validate: (streamId, events) => store.validate(streamId, events),
        onAppended: () => delivery.wake(),
        early: delivery.early,
        ...(delivery.replySteps ? { replySteps: delivery.replySteps } : {}),
        onOutcome: ({ worker, type, status }) => options.metrics?.eventsProcessed.inc({ event_type: type, handler: worker, status }),
      })
    : undefined;
  if (work) delivery.useHandOff(work);
  const loops = work
    ? handlers.map((handler) => new WorkerLoop({
        source: work, handler, by: instanceId, logger: logger.child({ component: 'worker' }),
        defaults: { timeoutMs: config.processing.timeoutMs, maxAttempts: retry.maxAttempts, concurrency: config.bus.workers },
      }))
    : [];

  // The one way in for events from outside a saga step (operators, aggregates): group-committed to the log,
  // then this process's followers woken (daemon) or the steps run here (direct).
  const append = async (streamId: string, events: EventEnvelope[], appendOptions: AppendOptions = {}) => {
    const appended = await storage.appender.append(streamId, events, appendOptions);
    if (mode === 'daemon') delivery.wake();
    else for (const event of events) await runtime.handle(event);
    return appended;
  };
  // In a span; an event published without `traceparent` gets the span's (docs/observability.md).
  const publish = (published: EventEnvelope): Promise<{ position?: number }> => tracePublish(published, async (event) => {
    const stored = (await append(event.streamId, [event])).events[0];
    return stored ? { position: stored.position } : {};
  });
  const addAggregate = (definition: Pick<AggregateDefinition, 'type' | 'events'>) => {
    registry.registerAll(definition.events);
    storage.storeRegistry.registerAll(definition.events);
    aggregateTypes.add(definition.type);
  };
  for (const definition of options.aggregates ?? []) addAggregate(definition);

  const redeliver = async (letter: DeadLetter): Promise<void> => {
    const saga = letter.saga ? sagaByName.get(letter.saga) : undefined;
    if (saga) await runtime.handleFor(saga, letter.event, { unpark: true });
    else if (letter.handlerId.startsWith(SAGA_GROUP) || letter.handlerId.startsWith('saga:')) await runtime.handle(letter.event);
    else if (await storage.workQueue.requeue(letter.handlerId, letter.event.id)) delivery.wake();
    else throw new UnavailableError(`dead letter ${letter.id} belongs to handler ${letter.handlerId}, which this process does not run`);
  };

  const sourcing = new SourcingService({
    projections, admin: storage.projections, log: store, db: database.db, leaseOf: projectionLease, owner: instanceId, leaseTtlMs,
    renew: async (grant) => (await storage.leases.renew([grant], instanceId, leaseTtlMs)).length === 1,
    release: (grant) => storage.leases.release([grant], instanceId),
    // A rebuild here: the same runner, on a lease this process holds; each page's progress and lease
    // renewal are awaited before the next page.
    catchUp: async (definition, fence, onPage) => void (await runnerOf(definition, store, fence, () => undefined, onPage).catchUp()),
    ...(delivery.bus ? { transport: delivery.bus.transport } : {}),
    retention: retentionRules,
  });
  const operator = new OperatorService({
    mode, database: database.kind, schema: config.database.schema, migrate: () => migrate(database.db, { schema: config.database.schema }),
    store, deadLetters: repository.deadLetters, audit: storage.auditLog, registry, sagas, queries: repository, publish, redeliver,
    fireTimer: async (timer) => void (await runtime.fireTimer(timer)),
    logger,
    status: { bus: mode === 'daemon' ? config.bus.type : 'none (direct)' },
    workers: () => storage.workQueue.list(),
    sourcing,
    migrations: new PostgresSagaMigrations(database.db, { schema: config.database.schema }),
  });

  let started = false;
  return {
    store, repository, registry, runtime, bus, operator, work, instanceId, auditLog: storage.auditLog,
    aggregates(definition) {
      addAggregate(definition);
      const log = logger.child({ component: 'aggregates', aggregate: definition.type });
      return new AggregateRepository(store, definition, {
        snapshotFrequency: config.store.snapshotFrequency, append,
        onSnapshotError: (err, streamId) => log.warn({ err, streamId }, 'snapshot not written; the next save tries again'),
      });
    },
    async health() {
      const [db, redis] = await Promise.all([
        database.db.query('SELECT 1').then(() => 'ok', reason),
        delivery.probe ? delivery.probe(1000).then(() => 'ok', reason) : undefined,
      ]);
      return { database: db, ...(redis === undefined ? {} : { redis }) };
    },
    async start() {
      if (started) return;
      // A Redis bus that does not answer stops the start with one line (a hybrid bus falls back instead).
      if (mode === 'daemon' && config.bus.type === 'redis' && delivery.probe) {
        try {
          await delivery.probe(3000);
        } catch (err) {
          await delivery.stop(0).catch(() => undefined); // close the connections still trying
          throw err;
        }
      }
      started = true;
      await delivery.start();
      for (const loop of loops) await loop.start();
    },
    async stop({ drainTimeoutMs = config.shutdownTimeoutMs } = {}) {
      if (!started) return;
      started = false;
      // Workers first: commands they finish still reach the log; the rest are handed back for a retry.
      await Promise.all(loops.map((loop) => loop.stop({ drainTimeoutMs })));
      await delivery.stop(drainTimeoutMs);
    },
  };
}
