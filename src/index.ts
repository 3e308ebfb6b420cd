/**
 * sagaflow's public API. Everything a user (or `sagas/`) needs is exported from here and nowhere else.
 */
export * from './core/errors.js';
export { newId } from './core/ids.js';
export * from './core/events/index.js';
export * from './core/ports/index.js';
export { MAX_QUERY_LIMIT } from './core/store/event-query.js';
export { MemoryEventStore, type MemoryEventStoreOptions } from './memory/event-store.js';
export { PostgresEventStore, type PostgresEventStoreOptions } from './postgres/event-store.js';
export { PgDb, type PgDbOptions } from './postgres/pg-db.js';
export { PgliteDb } from './postgres/pglite-db.js';
export { migrate, loadMigrations, type Migration, type MigrateResult } from './postgres/migrate.js';
export { MemoryDeadLetters } from './memory/dead-letters.js';
export { PostgresDeadLetters } from './postgres/dead-letters.js';
export * from './core/bus/index.js';
export { createMemoryBus, MemoryEventBus, MemoryBroker, OverflowPolicy, type MemoryBusOptions } from './memory/event-bus.js';
export { createRedisBus, RedisEventBus, type RedisBusOptions, resolveRedisUrl, DEFAULT_REDIS_PREFIX } from './redis/index.js';
export { PostgresCheckpoints } from './postgres/checkpoints.js';
export * from './core/saga/index.js';
export { MemorySagaRepository } from './memory/saga-repository.js';
export { PostgresSagaRepository, type PostgresSagaRepositoryOptions } from './postgres/saga-repository.js';
export { SagaRuntime, type SagaRuntimeOptions } from './runtime/saga-runtime.js';
export { StepResult, type StepOutcome } from './runtime/saga-step.js';
export { TimerPoller, type TimerPollerOptions } from './runtime/timer-poller.js';
export * from './config/index.js';
export * from './observability/index.js';
export * from './api/index.js';
export { startDaemon, type Daemon } from './daemon/daemon.js';
export { createEngine } from './daemon/engine.js';
export { defineHandler, isHandlerDefinition, type HandlerConfig, type HandlerDefinition, type HandlerDelivery, type CommandContext, type Reply } from './core/worker/define-handler.js';
export { WorkLeaseLostError } from './core/worker/worker-loop.js';
