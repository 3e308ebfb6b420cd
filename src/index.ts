/**
 * `sagaflow`: what a saga author and an embedder import — defineSaga, events, errors, compensation and
 * correlation helpers, the ports, the in-memory implementations and the saga runtime. It loads no driver
 * (no pg, PGlite, ioredis, prom-client, HTTP server): those live behind `sagaflow/postgres`,
 * `sagaflow/redis` and `sagaflow/daemon` (ADR 0009; test/int/entry-points.int.test.ts checks it).
 * Every name is listed on purpose: what is not here is internal.
 */

// Errors
export {
  ErrorCode, SagaflowError, ValidationError, UnknownEventTypeError, PayloadTooLargeError, TransactionConflictError, ConcurrencyError,
  DuplicateEventError, NotFoundError, ConfigError, BusFullError, NonRetryableError, UnavailableError, WaitTimeoutError, LeaseLostError, SagaDefinitionError,
  SagaVersionMismatchError, SagaMigrationError, InvariantViolationError, StreamGapError, QueryTimeoutError, isNonRetryable, type ValidationIssue, type ExpectedVersion,
} from './core/errors.js';
export { newId } from './core/ids.js';

// Events
export {
  DEFAULT_MAX_EVENT_BYTES, eventMetadataSchema, eventEnvelopeSchema, createEvent, parseEnvelope, parseEnvelopeJson, parseEventJson,
  type EventMetadata, type EventEnvelope, type NewEvent,
} from './core/events/envelope.js';
export { matchesPattern, isValidPattern, compilePattern } from './core/events/pattern.js';
export { EventTypeRegistry, type EventTypeRegistryOptions } from './core/events/registry.js';

// Ports
export { systemClock, type Clock } from './core/ports/clock.js';
export type { Db, DbTransaction, Queryable, QueryOptions, QueryResult, TransactionOptions } from './core/ports/db.js';
export type { DeadLetters, DeadLetter, NewDeadLetter, DeadLetterFilter } from './core/ports/dead-letters.js';
export type { EventBus, EventHandler, HandlerContext, SubscribeOptions, Subscription, PublishOptions, BackoffOptions } from './core/ports/event-bus.js';
export type {
  EventStore, StoredEvent, AppendOptions, AppendResult, ReadStreamOptions, ReadAllOptions, ReadAllResult, EventQuery, Snapshot,
} from './core/ports/event-store.js';
export { SagaStatus, type SagaInstance, type StepEffects, type SagaHistoryEntry, type TimerEntry, type SagaListFilter, type SagaQueries } from './core/ports/saga-store.js';
export type {
  SagaRepository, SagaStepTx, SagaStepRead, SagaStepWrite, SagaInstanceWrite, SagaBatchRead, SagaBatchTx,
} from './core/ports/saga-repository.js';
export type { Leases, LeaseGrant, Fence } from './core/ports/leases.js';
export type { CheckpointStore } from './core/bus/checkpoints.js';
export { MAX_QUERY_LIMIT } from './core/store/event-query.js';

// Sagas
export { defineSaga, type SagaDefinition, type DefineSagaOptions } from './core/saga/define-saga.js';
export { OnMissing, type SagaConfig, type SagaMigration, type MigrationSnapshot } from './core/saga/definition.js';
export { combineVersions, versionsOf, definitionFor, loadedVersions, migrationSources } from './core/saga/versions.js';
export { migrateInstance, type MigratingInstance, type MigratedInstance } from './core/saga/migration.js';
export { keyFromData, correlateAll } from './core/saga/correlate.js';
export { deriveStatus, SagaTag, finishedStatuses } from './core/saga/status.js';
export { RESUME_EVENT, resumeEventSchema, type ResumeEvent } from './core/saga/resume.js';
export {
  emptyCompensationLog, recordStep, forgetStep, pendingStep, settlePending, failPending, isReplyToPending, isFailureOfPending,
  describeFailure, compensationActions, compensationGuards, compensatingState, resumableFailedState, MAX_COMPENSATION_ERRORS,
  type SagaCommand, type CompensationStep, type CompensationLog, type CompensationGuardOptions, type CompensatingStateOptions,
} from './core/saga/compensation.js';
export {
  sagaGraph, sagaMermaid, SagaGraphEdgeKind, type SagaGraph, type SagaGraphNode, type SagaGraphEdge, type SagaGraphNodeType,
  type SagaMermaidOptions,
} from './core/saga/graph.js';

// Event sourcing: aggregates and their repository
export {
  defineAggregate, isAggregateDefinition, Aggregate, type AggregateDefinition, type DefineAggregateOptions, type AggregateEvent,
  type AggregateEventSchemas, type AnyAggregateDefinition, type AggregateOf, type AggregateCommand, type AggregateStart, type CommandInput, type DecidedEvent, type DecideContext,
} from './core/sourcing/aggregate.js';
export {
  AggregateRepository, DEFAULT_SNAPSHOT_FREQUENCY, type AggregateRepositoryOptions, type AggregateSaveResult, type AggregateSnapshot,
} from './core/sourcing/aggregate-repository.js';

// Buses (driver-free)
export { HandlerTimeoutError, BusStoppedError } from './core/bus/errors.js';
export { createDurableBus, DurableEventBus, type DurableBusOptions } from './core/bus/durable-bus.js';
export { createHybridBus, HybridEventBus, type HybridBusOptions } from './core/bus/hybrid-bus.js';
export { TransportState, type TransportHealth } from './core/bus/transport-health.js';

// In memory: every port, the reference implementations
export { MemoryEventStore, type MemoryEventStoreOptions } from './memory/event-store.js';
export { MemoryDeadLetters } from './memory/dead-letters.js';
export { MemoryAuditLog } from './memory/audit-log.js';
export type { AuditLog, AuditEntry, NewAuditEntry, AuditFilter } from './core/ports/audit-log.js';
export { MemorySagaRepository } from './memory/saga-repository.js';
export { MemoryCheckpoints } from './core/bus/checkpoints.js';
export { createMemoryBus, MemoryEventBus, MemoryBroker, OverflowPolicy, type MemoryBusOptions, type MemoryBrokerOptions } from './memory/event-bus.js';

// Running sagas over the ports
export { SagaRuntime, type SagaRuntimeOptions } from './runtime/saga-runtime.js';
export { StepResult, type StepOutcome } from './runtime/saga-step.js';
export { TimerPoller, type TimerPollerOptions } from './runtime/timer-poller.js';

// Configuration, as types (loading it reads files: `loadConfig` is in `sagaflow/daemon`)
export type { SagaflowConfig, SubscriptionConfig } from './config/schema.js';

// Workers: command handlers (run by the daemon, or remotely with `sagaflow/worker`)
export {
  defineProjection, isProjectionDefinition, type ProjectionConfig, type ProjectionContext, type ProjectionDefinition, type ProjectionStart,
} from './core/sourcing/projection.js';
export { defineHandler, isHandlerDefinition, type HandlerConfig, type HandlerDefinition, type HandlerDelivery, type CommandContext, type Reply } from './core/worker/define-handler.js';
export { WorkLeaseLostError } from './core/worker/worker-loop.js';
export type { ClaimedCommand, FailOutcome, WorkerState, WorkQueue, WorkerRegistration, RegisteredWorker, WorkItem } from './core/ports/work-queue.js';

// Tracing (OpenTelemetry API; inert until an SDK is registered — docs/observability.md)
export { SpanName, TraceAttribute, TRACER_NAME } from './core/tracing/spans.js';
export { traceContextOf, type TraceMetadata } from './core/tracing/trace-context.js';
