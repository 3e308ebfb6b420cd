/**
 * `sagaflow/daemon`: the composition root and what surrounds it — start a daemon or an engine in your
 * process, load the configuration and saga modules, serve or call the HTTP API, logs and metrics. Loads
 * every driver (pg, PGlite, ioredis, prom-client, node:http).
 */
export { startDaemon, type Daemon, type DaemonOptions } from './daemon.js';
export { createEngine, type Engine, type EngineOptions } from './engine.js';
export { openDatabase, type OpenedDatabase } from './database.js';
export { loadSagas, sagasOf } from './load-sagas.js';
export { handleShutdownSignals } from './signals.js';

// Configuration
export { configSchema, defaults as configDefaults, type SagaflowConfig, type SubscriptionConfig } from '../config/schema.js';
export { configFields, type ConfigField } from '../config/fields.js';
export { loadConfig, redactConfig, CONFIG_FILE_NAME, type LoadConfigOptions, type LoadedConfig } from '../config/load-config.js';
export { parseDuration, formatDuration } from '../config/duration.js';

// HTTP API: the operator API, its server and its client
export type {
  OperatorApi, OperatorStatus, PublishRequest, PublishResult, EventsQueryRequest, EventsPage, ResumeResult, SagaDetails, SagaWhy,
  ReplayTarget, ReplayAction, ReplayResult, MigrateSummary, SagaCounts, SagaDefinitionInfo,
} from '../app/operator-api.js';
export { ReplayActionKind } from '../app/operator-api.js';
export { startApiServer, type ApiServer, type ApiServerOptions } from '../api/server.js';
export { ApiClient, ApiRequestError, type ApiClientOptions } from '../api/client.js';
export { waitFor, type WaitCondition, type WaitConnection, type WaitForOptions } from '../api/wait-for.js';
export { LIVE_PROTOCOL, LiveCloseCode } from '../api/ws-bridge.js';
export type { LiveMessage } from '../api/live-filter.js';
export { HttpErrorCode, type ErrorBody } from '../api/http-errors.js';
export { authenticate, Scope, type ApiToken, type Principal } from '../api/auth.js';
export { REASON_HEADER } from '../api/reason.js';

// Observability
export { createLogger, silentLogger, REDACT_PATHS, type LoggerOptions } from '../observability/logger.js';
export { createMetrics, type SagaflowMetrics, type MetricsOptions } from '../observability/metrics.js';
export { instrumentBus } from '../observability/instrument-bus.js';
