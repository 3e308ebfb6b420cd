/**
 * `sagaflow/redis`: the Redis Streams transport (consumer groups, claims). Loads ioredis; `sagaflow`
 * itself does not. The entry codec and the consumer internals are not listed.
 */
export { createRedisBus, RedisEventBus, type RedisBusOptions } from './redis-event-bus.js';
export { resolveRedisUrl, DEFAULT_REDIS_PREFIX } from './redis-options.js';
