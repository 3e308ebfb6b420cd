import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiRequestError } from '../../src/api/client.js';
import { isAuthorized } from '../../src/api/auth.js';
import type { OperatorApi, PublishRequest } from '../../src/app/operator-api.js';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { NotFoundError, UnknownEventTypeError, ValidationError } from '../../src/core/errors.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { pino } from 'pino';

const TOKEN = 'test-token-0123456789abcdef';

/** A fake operator that records calls; behaviour per method is what each test needs. */
function fakeApi(calls: Array<[string, unknown[]]>): OperatorApi {
  const rec =
    <T>(name: string, result: (...args: unknown[]) => T) =>
    async (...args: unknown[]) => {
      calls.push([name, args]);
      return result(...args);
    };
  return {
    status: rec('status', () => ({ mode: 'daemon' as const, database: 'pglite' as const, schema: 'sagaflow', sagas: ['S'] })),
    migrate: rec('migrate', () => ({ applied: [], current: 3 })),
    publish: rec('publish', (r) => {
      const req = r as PublishRequest;
      if (req.type === 'nope.x') throw new UnknownEventTypeError('nope.x', ['task.created']);
      return { id: '01a21ca9-226d-75a9-8629-2f2e28fd3ee3', type: req.type, streamId: req.streamId ?? 's' };
    }),
    queryEvents: rec('queryEvents', () => ({ events: [] })),
    latestCursor: rec('latestCursor', () => undefined),
    listDeadLetters: rec('listDeadLetters', () => []),
    getDeadLetter: rec('getDeadLetter', (id) => {
      throw new NotFoundError('dead letter', String(id));
    }),
    retryDeadLetter: rec('retryDeadLetter', () => {
      throw new Error('database exploded at /secret/path');
    }),
    discardDeadLetter: rec('discardDeadLetter', () => {
      throw new ValidationError('x', [{ path: 'y', message: 'z' }]);
    }),
    listSagas: rec('listSagas', () => []),
    sagaCounts: rec('sagaCounts', () => ({ total: 0, byStatus: { running: 0, completed: 0, compensating: 0, compensated: 0, failed: 0, suspended: 0 } })),
    sagaDefinition: rec('sagaDefinition', (saga) => {
      throw new NotFoundError('saga', String(saga));
    }),
    showSaga: rec('showSaga', (saga, key) => {
      throw new NotFoundError(`${String(saga)} instance`, String(key));
    }),
    sagaHistory: rec('sagaHistory', () => []),
    sagaVersions: rec('sagaVersions', () => []),
    migrateSagas: rec('migrateSagas', () => ({ saga: 'S', from: 1, to: 2, dryRun: true, read: 0, moved: 0, failed: [] })),
    whySaga: rec('whySaga', () => {
      throw new Error('unused');
    }),
    replayTargets: rec('replayTargets', () => []),
    replay: rec('replay', (saga, key, o) => ({ saga: String(saga), key: String(key), dryRun: (o as { dryRun: boolean }).dryRun, actions: [] })),
    resumeSaga: rec('resumeSaga', (saga, key) => ({ saga: String(saga), key: String(key), eventId: 'e-1', fromState: 'failed' })),
    listProjections: rec('listProjections', () => []),
    projectionStatus: rec('projectionStatus', (name) => {
      throw new NotFoundError('projection', String(name));
    }),
    resetProjection: rec('resetProjection', (name) => ({ name: String(name), handles: ['task.*'], delivery: 'transactional' as const, replay: false, lag: 0 })),
    rebuildProjection: rec('rebuildProjection', () => {
      throw new Error('unused');
    }),
    replayEvents: rec('replayEvents', (r) => ({ replayId: 'r-1', dryRun: (r as { dryRun: boolean }).dryRun, target: 'bus', matched: 0, byType: [] })),
    retention: rec('retention', (r) => ({
      cutoff: '2026-01-01T00:00:00.000Z', mode: 'delete' as const, dryRun: (r as { dryRun: boolean }).dryRun, expired: 0, kept: { unread: 0, liveSaga: 0, aggregate: 0 }, removed: 0, byType: [],
    })),
    listAudit: rec('listAudit', () => []),
    close: async () => {},
  };
}

let server: ApiServer;
const calls: Array<[string, unknown[]]> = [];
/** The admin token, and the reason every mutating call needs (ignored by reads). */
const auth = { authorization: `Bearer ${TOKEN}`, 'x-sagaflow-reason': 'unit test' };

async function call(method: string, path: string, options: { headers?: Record<string, string>; body?: string } = {}) {
  const res = await fetch(`${server.url}${path}`, { method, headers: options.headers ?? {}, ...(options.body !== undefined ? { body: options.body } : {}) });
  const text = await res.text();
  return { status: res.status, text, json: text && res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : undefined, headers: res.headers };
}

beforeAll(async () => {
  server = await startApiServer({ api: fakeApi(calls), token: TOKEN, port: 0, maxBodyBytes: 2048, metrics: createMetrics({ processMetrics: false }) });
});
afterAll(() => server.stop({ timeoutMs: 1000 }));

describe('API auth', () => {
  it('health and readiness need no token', async () => {
    expect((await call('GET', '/healthz')).json).toEqual({ status: 'ok' });
    expect((await call('GET', '/readyz')).status).toBe(200);
  });

  it('every other route needs the bearer token', async () => {
    for (const path of ['/v1/status', '/metrics', '/v1/sagas', '/v1/nope']) {
      const missing = await call('GET', path);
      expect(missing.status).toBe(401);
      expect(missing.json).toMatchObject({ code: 'UNAUTHORIZED' });
      const wrong = await call('GET', path, { headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status).toBe(401);
    }
    expect((await call('GET', '/v1/status', { headers: auth })).status).toBe(200);
  });

  it('compares tokens exactly', () => {
    expect(isAuthorized(`Bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(isAuthorized(`bearer ${TOKEN}`, TOKEN)).toBe(true);
    expect(isAuthorized(`Bearer ${TOKEN.slice(0, -1)}`, TOKEN)).toBe(false);
    expect(isAuthorized(`Basic ${TOKEN}`, TOKEN)).toBe(false);
    expect(isAuthorized(undefined, TOKEN)).toBe(false);
    expect(isAuthorized('Bearer ', TOKEN)).toBe(false);
  });
});

describe('API errors', () => {
  it('caps request bodies with 413', async () => {
    const r = await call('POST', '/v1/events', { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'a.b', data: { x: 'y'.repeat(5000) } }) });
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit: 2048 } });
  });

  it('caps a chunked body without content-length too', async () => {
    const status = await new Promise<number>((resolve, reject) => {
      const u = new URL(`${server.url}/v1/events`);
      const req = request({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write('x'.repeat(500));
      req.end();
    });
    expect(status).toBe(413);
  });

  it('bad JSON is a 400 naming the parser error', async () => {
    const r = await call('POST', '/v1/events', { headers: { ...auth, 'content-type': 'application/json' }, body: '{bad' });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'VALIDATION' });
    expect(String(r.json!.message)).toContain('request body JSON');
  });

  it('a body of the wrong shape is a 400 naming the field', async () => {
    const r = await call('POST', '/v1/events', { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'a.b', data: 'nope' }) });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'VALIDATION', details: { issues: [{ path: 'data' }] } });
  });

  it('typed errors keep their code: unknown type 400, not found 404', async () => {
    const unknown = await call('POST', '/v1/events', { headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ type: 'nope.x', data: {} }) });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toMatchObject({ code: 'UNKNOWN_EVENT_TYPE' });
    const missing = await call('GET', '/v1/sagas/Task%20Processing/k%2F1', { headers: auth });
    expect(missing.status).toBe(404);
    expect(missing.json).toMatchObject({ code: 'NOT_FOUND', message: 'Task Processing instance "k/1" not found' });
  });

  it('an unexpected error is a 500 with a generic message and no stack', async () => {
    const r = await call('POST', '/v1/dead-letters/abc/retry', { headers: auth });
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ code: 'INTERNAL', message: 'internal error; see the daemon log', details: {} });
    expect(r.text).not.toContain('/secret/path');
    expect(r.text).not.toContain('at ');
  });

  it('unknown routes are 404 and wrong methods 405', async () => {
    expect((await call('GET', '/v1/nope', { headers: auth })).json).toMatchObject({ code: 'ROUTE_NOT_FOUND' });
    const r = await call('DELETE', '/v1/events', { headers: auth });
    expect(r.status).toBe(405);
    expect(r.json).toMatchObject({ code: 'METHOD_NOT_ALLOWED' });
  });

  it('validates query parameters', async () => {
    const r = await call('GET', '/v1/events?limit=abc', { headers: auth });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ code: 'VALIDATION', details: { issues: [{ path: 'limit' }] } });
    const s = await call('GET', '/v1/sagas?stuck=soon', { headers: auth });
    expect(s.status).toBe(400);
    const t = await call('GET', '/v1/sagas?status=sleeping', { headers: auth });
    expect(t.status).toBe(400);
  });

  it('answers JSON with no-store and nosniff headers', async () => {
    const r = await call('GET', '/v1/status', { headers: auth });
    expect(r.headers.get('content-type')).toContain('application/json');
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
  });
});

describe('API metrics', () => {
  it('exposes the design notes metric names', async () => {
    const r = await call('GET', '/metrics', { headers: auth });
    expect(r.status).toBe(200);
    for (const name of ['mcp_events_published_total', 'mcp_events_processed_total', 'mcp_event_processing_duration_seconds', 'mcp_event_queue_depth']) {
      expect(r.text).toContain(`# TYPE ${name}`);
    }
  });

  it('labels a failed request with the route it matched, not "error"', async () => {
    await call('GET', '/v1/events?limit=0', { headers: auth });
    await call('GET', '/v1/nowhere', { headers: auth });
    const r = await call('GET', '/metrics', { headers: auth });
    expect(r.text).toMatch(/sagaflow_http_requests_total\{route="\/v1\/events",status="400"\} [1-9]/);
    expect(r.text).toMatch(/sagaflow_http_requests_total\{route="unmatched",status="404"\} [1-9]/);
    expect(r.text).not.toContain('route="error"');
  });
});

describe('ApiClient', () => {
  it('round-trips requests and maps parameters', async () => {
    const client = new ApiClient({ url: server.url, token: TOKEN, reason: 'unit test' });
    calls.length = 0;
    const published = await client.publish({ type: 'task.created', data: { a: 1 }, streamId: 's1' });
    expect(published).toMatchObject({ type: 'task.created', streamId: 's1' });
    await client.queryEvents({ types: ['task.*', '*.created'], streamId: 's1', after: '1.2', limit: 5 });
    await client.listSagas({ saga: 'S', status: 'running', stuckForMs: 60_000, limit: 7 });
    const replay = await client.replay('S', 'k 1', { dryRun: true });
    expect(replay).toEqual({ saga: 'S', key: 'k 1', dryRun: true, actions: [] });
    expect(await client.resumeSaga('S', 'k 1', { reason: 'fixed upstream' })).toMatchObject({ saga: 'S', key: 'k 1', eventId: 'e-1' });
    expect(calls).toEqual([
      ['publish', [{ type: 'task.created', data: { a: 1 }, streamId: 's1' }]],
      ['queryEvents', [{ types: ['task.*', '*.created'], streamId: 's1', after: '1.2', limit: 5 }]],
      ['listSagas', [{ saga: 'S', status: 'running', stuckForMs: 60_000, limit: 7 }]],
      ['replay', ['S', 'k 1', { dryRun: true }]],
      ['resumeSaga', ['S', 'k 1', { reason: 'fixed upstream' }]],
    ]);
    // A resume needs a reason.
    await expect(client.resumeSaga('S', 'k', { reason: ' ' })).rejects.toMatchObject({ status: 400, code: 'VALIDATION' });
  });

  it('turns error bodies into ApiRequestError with the server code', async () => {
    const client = new ApiClient({ url: server.url, token: TOKEN, reason: 'unit test' });
    const err = await client.getDeadLetter('x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect(err).toMatchObject({ status: 404, code: 'NOT_FOUND', message: 'dead letter "x" not found' });
    const unauthorized = await new ApiClient({ url: server.url, token: 'wrong-token-123456' }).status().catch((e: unknown) => e);
    expect(unauthorized).toMatchObject({ status: 401, code: 'UNAUTHORIZED' });
  });

  it('reports an unreachable daemon as UNAVAILABLE', async () => {
    const err = await new ApiClient({ url: 'http://127.0.0.1:9', token: TOKEN, timeoutMs: 2000 }).status().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'UNAVAILABLE' });
    expect(String((err as Error).message)).toContain('cannot reach the sagaflow daemon at http://127.0.0.1:9');
  });
});

describe('API readiness and shutdown', () => {
  it('/readyz names each dependency and answers 503 when one is down', async () => {
    let redis = 'ok';
    const s = await startApiServer({
      api: fakeApi([]), token: TOKEN, port: 0,
      ready: async () => ({ ready: redis === 'ok', checks: { database: 'ok', redis } }),
    });
    try {
      const up = await fetch(`${s.url}/readyz`);
      expect(up.status).toBe(200);
      expect(await up.json()).toEqual({ status: 'ready', checks: { database: 'ok', redis: 'ok' } });
      redis = 'connect ECONNREFUSED 127.0.0.1:6390';
      const down = await fetch(`${s.url}/readyz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: 'not ready', checks: { database: 'ok', redis } });
    } finally {
      await s.stop({ timeoutMs: 1000 });
    }
  });

  // A client on a keep-alive connection opened before the signal must not get a publish accepted after it.
  it('refuses every request once stop() began, also on a keep-alive connection opened before', async () => {
    let release!: () => void;
    const slow = new Promise<void>((r) => (release = r));
    const api = { ...fakeApi([]), listSagas: async () => (await slow, []) };
    const s = await startApiServer({ api, token: TOKEN, port: 0 });
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string, method = 'GET') =>
      new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
        const req = request(`${s.url}${path}`, { method, agent, headers: { ...auth, 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        });
        req.on('error', reject);
        req.end(method === 'POST' ? JSON.stringify({ type: 'task.created', data: {} }) : undefined);
      });
    try {
      expect((await get('/v1/status')).status).toBe(200); // the keep-alive connection is open
      const inFlight = get('/v1/sagas');
      await new Promise((r) => setTimeout(r, 50));
      const stopped = s.stop({ timeoutMs: 2000 });
      release();
      const first = await inFlight; // in flight: finished, and its connection closes after it
      expect(first.status).toBe(200);
      expect(first.connection).toBe('close');
      const after = await get('/v1/events', 'POST').catch((err: unknown) => ({ status: 0, connection: String(err) }));
      expect([0, 503]).toContain(after.status); // refused (503) or the connection is already gone: never 201
      await stopped;
    } finally {
      agent.destroy();
    }
  });
});

describe('listening', () => {
  it('a port in use is one line that says what to do (UNAVAILABLE, CLI exit 4), not a raw EADDRINUSE', async () => {
    const taken = await startApiServer({ api: fakeApi([]), token: TOKEN, port: 0 });
    const port = Number(new URL(taken.url).port);
    try {
      const err = await startApiServer({ api: fakeApi([]), token: TOKEN, port }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'UNAVAILABLE', message: `cannot listen on 127.0.0.1:${port}: the port is in use (another daemon?); choose another with --port or SAGAFLOW_HTTP_PORT` });
    } finally {
      await taken.stop({ timeoutMs: 1000 });
    }
  });

  it('answers only to loopback Host names when bound to loopback (DNS rebinding), any Host when told so', async () => {
    const local = await startApiServer({ api: fakeApi([]), token: TOKEN, port: 0 });
    const open = await startApiServer({ api: fakeApi([]), token: TOKEN, port: 0, allowedHosts: ['sagaflow.internal'] });
    const get = (url: string, host: string | undefined) =>
      new Promise<number>((resolve, reject) => {
        const req = request(`${url}/healthz`, host === undefined ? { setHost: false } : { headers: { host } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end();
      });
    try {
      const port = new URL(local.url).port;
      expect(await get(local.url, `127.0.0.1:${port}`)).toBe(200);
      expect(await get(local.url, `localhost:${port}`)).toBe(200);
      expect(await get(local.url, `[::1]:${port}`)).toBe(200);
      expect(await get(local.url, `rebound.example:${port}`)).toBe(403);
      expect(await get(local.url, undefined)).toBe(400); // no Host header at all: node's server refuses it first
      expect(await get(open.url, 'sagaflow.internal')).toBe(200);
      expect(await get(open.url, '127.0.0.1')).toBe(403);
    } finally {
      await local.stop({ timeoutMs: 1000 });
      await open.stop({ timeoutMs: 1000 });
    }
  });

  it('a client that hangs up mid-body is not logged as an error', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
    const s = await startApiServer({ api: fakeApi([]), token: TOKEN, port: 0, logger });
    try {
      const req = request(`${s.url}/v1/events`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json', 'content-length': '1000' } });
      req.on('error', () => undefined);
      req.write('{"type":');
      await new Promise((r) => setTimeout(r, 50));
      req.destroy();
      const deadline = Date.now() + 2000;
      while (!lines.some((l) => l.includes('CLIENT_CLOSED')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(lines.some((l) => l.includes('CLIENT_CLOSED'))).toBe(true);
      expect(lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((l) => l.level >= 50).map((l) => l.msg)).toEqual([]);
    } finally {
      await s.stop({ timeoutMs: 1000 });
    }
  });
});
