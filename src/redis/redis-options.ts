import { ConfigError } from '../core/errors.js';

/** Default key prefix (`REDIS_EVENT_CHANNEL_PREFIX`). */
export const DEFAULT_REDIS_PREFIX = 'sagaflow:events';

/**
 * Resolves the Redis URL from `url` (`REDIS_URL`) or `addr` (`REDIS_ADDR`, `host:port`).
 * @default 'redis://127.0.0.1:6379'
 */
export function resolveRedisUrl(options: { url?: string | undefined; addr?: string | undefined }): string {
  if (options.url) {
    if (!/^rediss?:\/\//.test(options.url)) throw new ConfigError(`REDIS_URL "${options.url}" must start with redis:// or rediss://`, { key: 'REDIS_URL' });
    return options.url;
  }
  if (options.addr) {
    if (!/^[^\s/:]+:\d{1,5}$/.test(options.addr)) throw new ConfigError(`REDIS_ADDR "${options.addr}" must be host:port, e.g. 127.0.0.1:6379`, { key: 'REDIS_ADDR' });
    return `redis://${options.addr}`;
  }
  return 'redis://127.0.0.1:6379';
}
