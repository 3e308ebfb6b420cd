export { createLogger, silentLogger, REDACT_PATHS, type LoggerOptions } from './logger.js';
export { createMetrics, type SagaflowMetrics, type MetricsOptions } from './metrics.js';
export { instrumentBus } from './instrument-bus.js';
