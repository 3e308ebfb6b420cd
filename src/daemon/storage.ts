import type { SagaflowConfig } from '../config/schema.js';
import { EventTypeRegistry } from '../core/events/registry.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { PostgresAuditLog } from '../postgres/audit-log.js';
import { PostgresCheckpoints } from '../postgres/checkpoints.js';
import { PostgresEventStore } from '../postgres/event-store.js';
import { GroupAppender } from '../postgres/group-appender.js';
import { PostgresLeases } from '../postgres/leases.js';
import { PostgresProjections } from '../postgres/projections.js';
import { PostgresRetention } from '../postgres/retention.js';
import { PostgresTableStatistics } from '../postgres/table-statistics.js';
import { PostgresSagaRepository } from '../postgres/saga-repository.js';
import { PostgresWorkQueue } from '../postgres/work-queue.js';
import type { OpenedDatabase } from './database.js';

/** The storage side of an engine: the event log, saga storage, checkpoints and leases on one database. */
export interface Storage {
  /** What operators may publish: the types some saga declares (strict when configured). */
  readonly registry: EventTypeRegistry;
  /** What the log validates: the data of declared types (commands and other producers' types pass). */
  readonly storeRegistry: EventTypeRegistry;
  readonly store: PostgresEventStore;
  /** Publishes go through here: concurrent ones commit together (group commit). */
  readonly appender: GroupAppender;
  readonly repository: PostgresSagaRepository;
  readonly checkpoints: PostgresCheckpoints;
  readonly leases: PostgresLeases;
  /** The commands workers have to answer. */
  readonly workQueue: PostgresWorkQueue;
  /** Projections' checkpoints, pages and resets. */
  readonly projections: PostgresProjections;
  /** The retention job's SQL. */
  readonly retention: PostgresRetention;
  /** The statistics job's SQL (ADR 0019). */
  readonly statistics: PostgresTableStatistics;
  /** Operator changes made through the HTTP API. */
  readonly auditLog: PostgresAuditLog;
}

/** Builds the storage parts; `instanceId` is the payload of this process's commit notifications. */
export function buildStorage(config: SagaflowConfig, database: OpenedDatabase, sagas: readonly SagaDefinition[], instanceId: string): Storage {
  const schema = config.database.schema;
  const registry = new EventTypeRegistry({ strict: config.strictTypes && sagas.length > 0 });
  const storeRegistry = new EventTypeRegistry();
  for (const saga of sagas) {
    registry.registerAll(saga.events);
    storeRegistry.registerAll(saga.events);
  }
  const store = new PostgresEventStore(database.db, { schema, registry: storeRegistry, notifier: instanceId });
  // Emitted events enter the log in the step's transaction: the repository appends through the store.
  const repository = new PostgresSagaRepository(database.db, { schema, store });
  const leases = new PostgresLeases(database.db, { schema });
  return {
    registry,
    storeRegistry,
    store,
    appender: new GroupAppender(store, database.db),
    repository,
    workQueue: new PostgresWorkQueue(database.db, store, repository.deadLetters, { schema, notifier: instanceId }),
    checkpoints: new PostgresCheckpoints(database.db, { schema }),
    leases,
    projections: new PostgresProjections(database.db, leases, { schema }),
    retention: new PostgresRetention(database.db, { schema }),
    statistics: new PostgresTableStatistics(database.db, { schema }),
    auditLog: new PostgresAuditLog(database.db, { schema }),
  };
}
