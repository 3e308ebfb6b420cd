/**
 * Test tiers that need real servers read their URLs from the environment:
 * SAGAFLOW_TEST_DATABASE_URL and SAGAFLOW_TEST_REDIS_URL. Without them those suites are skipped
 * (the global setup prints which); with SAGAFLOW_REQUIRE_SERVICES=1 a missing or unreachable
 * server fails the run instead.
 */
export const databaseUrl = process.env.SAGAFLOW_TEST_DATABASE_URL || undefined;
export const redisUrl = process.env.SAGAFLOW_TEST_REDIS_URL || undefined;
export const requireServices = process.env.SAGAFLOW_REQUIRE_SERVICES === '1';

/** True when Postgres tests should run. Throws when services are required but not configured. */
export function hasPostgres(): boolean {
  if (!databaseUrl && requireServices) throw new Error('SAGAFLOW_REQUIRE_SERVICES=1 but SAGAFLOW_TEST_DATABASE_URL is not set');
  return databaseUrl !== undefined;
}

/** True when Redis tests should run. Throws when services are required but not configured. */
export function hasRedis(): boolean {
  if (!redisUrl && requireServices) throw new Error('SAGAFLOW_REQUIRE_SERVICES=1 but SAGAFLOW_TEST_REDIS_URL is not set');
  return redisUrl !== undefined;
}

/** A schema name unique to this test file and run. */
export function uniqueSchema(prefix = 't'): string {
  return `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}
