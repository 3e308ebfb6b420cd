import type { ApiServerOptions } from '../api/server.js';
import type { SagaflowConfig } from '../config/schema.js';

/** The API server's access options from the config: named tokens, `/metrics` exposure, rate limit, read timeout. */
export function accessOptions(config: SagaflowConfig): Pick<ApiServerOptions, 'tokens' | 'metricsPublic' | 'rateLimit' | 'statementTimeoutMs'> {
  const { http } = config;
  return {
    ...(http.tokens ? { tokens: http.tokens } : {}),
    metricsPublic: http.metricsPublic,
    rateLimit: http.rateLimit,
    ...(http.statementTimeoutMs > 0 ? { statementTimeoutMs: http.statementTimeoutMs } : {}),
  };
}
