import type { Logger } from 'pino';
import type { SagaflowConfig } from '../config/schema.js';
import { createHybridBus, type ProbedBus } from '../core/bus/hybrid-bus.js';
import { UnavailableError } from '../core/errors.js';
import { createMemoryBus } from '../memory/event-bus.js';
import { createRedisBus } from '../redis/redis-event-bus.js';
import type { Storage } from './storage.js';

/** The configured transport (memory, Redis or hybrid) that carries the log's events to subscribers. */
export function buildTransport(config: SagaflowConfig, storage: Pick<Storage, 'repository' | 'storeRegistry'>, logger: Logger): ProbedBus {
  const handlerDefaults = {
    maxAttempts: config.processing.retry.maxAttempts,
    timeoutMs: config.processing.timeoutMs,
    backoff: { type: config.processing.retry.backoff, initialMs: config.processing.retry.initialMs, maxMs: config.processing.retry.maxMs },
  };
  const log = logger.child({ component: 'bus' });
  const deadLetters = storage.repository.deadLetters;
  const memory = () =>
    createMemoryBus({ bufferSize: config.bus.bufferSize, overflow: config.bus.overflow, workers: config.bus.workers, handlerDefaults, deadLetters, logger: log });
  const redis = () =>
    createRedisBus({
      url: config.redis.url!, prefix: config.redis.channelPrefix, workers: config.bus.workers, readCount: config.processing.batchSize,
      handlerDefaults, deadLetters, registry: storage.storeRegistry, logger: log,
    });
  if (config.bus.type === 'memory') return memory();
  if (config.bus.type === 'redis') return redis();
  if (config.bus.type === 'hybrid') return createHybridBus({ primary: redis(), fallback: memory(), logger: log });
  throw new UnavailableError(`EVENT_BUS_TYPE=${String(config.bus.type)} is not available`);
}
