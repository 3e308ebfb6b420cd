import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/api/rate-limit.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import type { OperatorApi } from '../../src/app/operator-api.js';
import { MemoryAuditLog } from '../../src/memory/audit-log.js';

describe('RateLimiter (token bucket)', () => {
  it('allows a burst, then one call per refill interval, and says how long to wait', () => {
    let now = 0;
    const limiter = new RateLimiter({ perMinute: 6, burst: 2, now: () => now }); // one call back every 10 s
    expect([limiter.take('a'), limiter.take('a')]).toEqual([0, 0]);
    expect(limiter.take('a')).toBe(10);
    now += 4_000;
    expect(limiter.take('a')).toBe(6);
    now += 6_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10);
    // Per key: another token has its own bucket.
    expect(limiter.take('b')).toBe(0);
    // A long quiet spell refills up to the burst, no further.
    now += 3_600_000;
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 10]);
  });

  it('perMinute 0 turns it off', () => {
    const limiter = new RateLimiter({ perMinute: 0, burst: 1 });
    for (let i = 0; i < 1000; i++) expect(limiter.take('a')).toBe(0);
  });
});

describe('rate limit through the HTTP API', () => {
  /** An operator that answers every call with `{}`: only the access layer is under test here. */
  const api = new Proxy({}, { get: () => async () => ({ applied: [], current: 8 }) }) as OperatorApi;
  const audit = new MemoryAuditLog();
  let server: ApiServer;
  const tokens = [
    { name: 'ops', token: 'ops-token-0123456789abcdef', scope: 'admin' as const },
    { name: 'other', token: 'other-token-0123456789abcd', scope: 'admin' as const },
  ];
  beforeAll(async () => {
    server = await startApiServer({ api, tokens, audit, port: 0, rateLimit: { perMinute: 1, burst: 3 } });
  });
  afterAll(() => server.stop({ timeoutMs: 1000 }));

  const post = (token: string) =>
    fetch(`${server.url}/v1/migrate`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-sagaflow-reason': 'rate test' } });

  it('answers 429 with Retry-After once a token spent its burst, per token, reads untouched', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await post(tokens[0]!.token)).status);
    expect(statuses).toEqual([200, 200, 200]);
    const limited = await post(tokens[0]!.token);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    expect(await limited.json()).toMatchObject({ code: 'RATE_LIMITED', message: expect.stringContaining('token "ops"') as unknown });
    // The refused call changed nothing and is not audited; the other token still has its own budget.
    expect((await audit.list()).length).toBe(3);
    expect((await post(tokens[1]!.token)).status).toBe(200);
    // Reads are not limited.
    const read = await fetch(`${server.url}/v1/status`, { headers: { authorization: `Bearer ${tokens[0]!.token}` } });
    expect(read.status).toBe(200);
  });
});
