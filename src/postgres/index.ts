/**
 * `sagaflow/postgres`: every port over Postgres (`pg`) or PGlite, and the migrations. Loads the drivers;
 * `sagaflow` itself does not. Internals (append locks, the group appender, SQL helpers) are not listed.
 */
export { PgDb, type PgDbOptions } from './pg-db.js';
export { PgliteDb } from './pglite-db.js';
export { migrate, loadMigrations, type Migration, type MigrateResult } from './migrate.js';
export { PostgresEventStore, type PostgresEventStoreOptions } from './event-store.js';
export { PostgresSagaRepository, type PostgresSagaRepositoryOptions } from './saga-repository.js';
export { PostgresCheckpoints } from './checkpoints.js';
export { PostgresDeadLetters } from './dead-letters.js';
export { PostgresAuditLog } from './audit-log.js';
export { PostgresLeases } from './leases.js';
export { PostgresWorkQueue } from './work-queue.js';
