export { configSchema, defaults as configDefaults, type SagaflowConfig, type SubscriptionConfig } from './schema.js';
export { configFields, type ConfigField } from './fields.js';
export { loadConfig, redactConfig, CONFIG_FILE_NAME, type LoadConfigOptions, type LoadedConfig } from './load-config.js';
export { parseDuration, formatDuration, DURATION_HINT } from './duration.js';
