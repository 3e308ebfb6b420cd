import { DURATION_HINT } from './duration.js';

/**
 * Every config field with the names users write it under, and what it accepts (for error
 * messages and `docs/configuration.md`). `path` is the dotted path in {@link SagaflowConfig}.
 */
export interface ConfigField {
  path: string;
  /** Environment variables, first wins. */
  env: string[];
  /** Dotted path in `sagaflow.yaml`. */
  yaml: string;
  /** CLI flag (long name without dashes), if any. */
  flag?: string;
  /** What the field accepts. */
  accepts: string;
  /** Redacted by `sagaflow config` and in logs. */
  secret?: boolean;
}

const int = (min: number, max: number) => `an integer from ${min} to ${max}`;

/** The field table. Order is the order of `docs/configuration.md`. */
export const configFields: readonly ConfigField[] = [
  { path: 'database.url', env: ['DATABASE_URL'], yaml: 'database.url', flag: 'database-url', accepts: 'a postgres:// URL (unset: embedded PGlite in <data_dir>/data)', secret: true },
  { path: 'database.schema', env: ['SAGAFLOW_SCHEMA'], yaml: 'database.schema', flag: 'schema', accepts: 'a lower-case SQL identifier of at most 63 characters' },
  { path: 'dataDir', env: ['SAGAFLOW_DATA_DIR'], yaml: 'data_dir', flag: 'data-dir', accepts: 'a directory path' },
  { path: 'store.type', env: ['EVENT_STORE_TYPE'], yaml: 'events.store.type', accepts: 'one of postgres, pglite' },
  { path: 'store.snapshotFrequency', env: ['EVENT_STORE_SNAPSHOT_FREQUENCY'], yaml: 'events.store.snapshot_frequency', accepts: int(1, 1_000_000) },
  { path: 'store.retentionDays', env: ['EVENT_STORE_RETENTION_DAYS'], yaml: 'events.store.retention_days', accepts: `${int(0, 36_500)} (0: keep every event)` },
  { path: 'store.retentionMode', env: ['EVENT_STORE_RETENTION_MODE'], yaml: 'events.store.retention_mode', accepts: 'one of delete, archive (moved to the events_archive table)' },
  { path: 'bus.type', env: ['EVENT_BUS_TYPE'], yaml: 'events.bus.type', flag: 'bus', accepts: 'one of memory, redis, hybrid' },
  { path: 'bus.bufferSize', env: ['EVENT_BUS_BUFFER_SIZE'], yaml: 'events.bus.buffer_size', accepts: int(1, 10_000_000) },
  { path: 'bus.workers', env: ['EVENT_BUS_WORKERS'], yaml: 'events.bus.workers', accepts: int(1, 1024) },
  { path: 'bus.overflow', env: ['EVENT_BUS_OVERFLOW'], yaml: 'events.bus.overflow', accepts: 'one of wait, reject' },
  { path: 'redis.url', env: ['REDIS_URL', 'REDIS_ADDR'], yaml: 'events.redis.url', accepts: 'a redis:// URL, or host:port for REDIS_ADDR', secret: true },
  { path: 'redis.channelPrefix', env: ['REDIS_EVENT_CHANNEL_PREFIX'], yaml: 'events.redis.channel_prefix', accepts: 'a non-empty string of at most 200 characters' },
  { path: 'processing.batchSize', env: ['EVENT_PROCESSING_BATCH_SIZE'], yaml: 'events.processing.batch_size', accepts: int(1, 100_000) },
  { path: 'processing.stepsPerTransaction', env: ['EVENT_PROCESSING_STEPS_PER_TRANSACTION'], yaml: 'events.processing.steps_per_transaction', accepts: int(1, 10_000) },
  { path: 'processing.partitions', env: ['SAGAFLOW_PARTITIONS'], yaml: 'events.processing.partitions', accepts: int(1, 4096) },
  { path: 'processing.leaseTtlMs', env: ['SAGAFLOW_LEASE_TTL'], yaml: 'events.processing.lease_ttl', accepts: `${DURATION_HINT}, at least 500ms` },
  { path: 'processing.timeoutMs', env: ['EVENT_PROCESSING_TIMEOUT'], yaml: 'events.processing.timeout', accepts: `${DURATION_HINT}, at least 1ms` },
  { path: 'processing.retry.maxAttempts', env: ['EVENT_RETRY_MAX_ATTEMPTS'], yaml: 'events.processing.retry.max_attempts', accepts: int(1, 1000) },
  { path: 'processing.retry.backoff', env: ['EVENT_RETRY_BACKOFF'], yaml: 'events.processing.retry.backoff', accepts: 'one of exponential, fixed' },
  { path: 'processing.retry.initialMs', env: ['EVENT_RETRY_INITIAL_DELAY'], yaml: 'events.processing.retry.initial_delay', accepts: DURATION_HINT },
  { path: 'processing.retry.maxMs', env: ['EVENT_RETRY_MAX_DELAY'], yaml: 'events.processing.retry.max_delay', accepts: DURATION_HINT },
  { path: 'subscriptions', env: [], yaml: 'events.subscriptions', accepts: 'a list of { event_type: <pattern>, handlers: [<name>, ...] }' },
  { path: 'http.host', env: ['SAGAFLOW_HTTP_HOST'], yaml: 'http.host', flag: 'host', accepts: 'a host name or IP address' },
  { path: 'http.port', env: ['SAGAFLOW_HTTP_PORT'], yaml: 'http.port', flag: 'port', accepts: `${int(0, 65_535)} (0 = any free port)` },
  { path: 'http.token', env: ['SAGAFLOW_API_TOKEN'], yaml: 'http.token', flag: 'token', accepts: 'a string of 16 to 1024 characters', secret: true },
  { path: 'http.tokens', env: ['SAGAFLOW_API_TOKENS'], yaml: 'http.tokens', accepts: 'a list of { name, token, scope: read | worker | admin } (environment: name:scope:token, comma-separated)', secret: true },
  { path: 'http.metricsPublic', env: ['SAGAFLOW_METRICS_PUBLIC'], yaml: 'http.metrics_public', accepts: 'true or false' },
  { path: 'http.rateLimit.perMinute', env: ['SAGAFLOW_API_RATE_LIMIT'], yaml: 'http.rate_limit.per_minute', accepts: `${int(0, 1_000_000)} (0 = no limit)` },
  { path: 'http.rateLimit.burst', env: ['SAGAFLOW_API_RATE_BURST'], yaml: 'http.rate_limit.burst', accepts: int(1, 1_000_000) },
  { path: 'http.statementTimeoutMs', env: ['SAGAFLOW_API_STATEMENT_TIMEOUT'], yaml: 'http.statement_timeout', accepts: `${DURATION_HINT}, at most 1h (0 = none)` },
  { path: 'http.allowedHosts', env: ['SAGAFLOW_HTTP_ALLOWED_HOSTS'], yaml: 'http.allowed_hosts', accepts: 'host names, comma-separated (a YAML list in the file)' },
  { path: 'http.allowedOrigins', env: ['SAGAFLOW_HTTP_ALLOWED_ORIGINS'], yaml: 'http.allowed_origins', accepts: 'origins (http(s)://host[:port]), comma-separated (a YAML list in the file)' },
  { path: 'http.maxBodyBytes', env: ['SAGAFLOW_HTTP_MAX_BODY_BYTES'], yaml: 'http.max_body_bytes', accepts: int(1024, 64 * 1024 * 1024) },
  { path: 'log.level', env: ['SAGAFLOW_LOG_LEVEL', 'LOG_LEVEL'], yaml: 'log.level', flag: 'log-level', accepts: 'one of trace, debug, info, warn, error, fatal, silent' },
  { path: 'log.format', env: ['SAGAFLOW_LOG_FORMAT'], yaml: 'log.format', flag: 'log-format', accepts: 'one of auto, pretty, json' },
  { path: 'sagas', env: ['SAGAFLOW_SAGAS'], yaml: 'sagas', flag: 'sagas', accepts: 'a module file or directory of saga definitions' },
  { path: 'strictTypes', env: ['SAGAFLOW_STRICT_TYPES'], yaml: 'events.strict_types', accepts: 'true or false' },
  { path: 'shutdownTimeoutMs', env: ['SAGAFLOW_SHUTDOWN_TIMEOUT'], yaml: 'shutdown_timeout', accepts: DURATION_HINT },
];

/** Field by config path. */
export const fieldByPath: ReadonlyMap<string, ConfigField> = new Map(configFields.map((f) => [f.path, f]));
