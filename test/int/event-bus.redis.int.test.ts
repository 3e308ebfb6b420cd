import { describe } from 'vitest';
import { eventBusSuite } from '../support/event-bus-suite.js';
import { redisBusHarness } from '../support/redis-bus-harness.js';
import { hasRedis, redisUrl } from '../support/services.js';

describe.runIf(hasRedis())('redis bus', () => {
  eventBusSuite('redis', async () => redisBusHarness(redisUrl!));
});
