import { describe, expect, it } from 'vitest';
import { loadConfig, redactConfig } from '../../src/config/load-config.js';
import { accessOptions } from '../../src/daemon/access.js';

const load = (env: Record<string, string>, flags: Record<string, unknown> = {}) => loadConfig({ env, cwd: '/nonexistent', flags }).config;
const tok = (c: string) => c.repeat(20);

describe('access settings', () => {
  it('defaults: no named tokens, /metrics closed, 600 changes a minute in bursts of 100, reads under 5 s', () => {
    const c = load({});
    expect(c.http).toMatchObject({ metricsPublic: false, rateLimit: { perMinute: 600, burst: 100 }, statementTimeoutMs: 5000 });
    expect(c.http.tokens).toBeUndefined();
    expect(accessOptions(c)).toEqual({ metricsPublic: false, rateLimit: { perMinute: 600, burst: 100 }, statementTimeoutMs: 5000 });
  });

  it('reads SAGAFLOW_API_TOKENS as name:scope:token entries, and the other variables', () => {
    const c = load({
      SAGAFLOW_API_TOKENS: `grafana:read:${tok('a')}, w-1:worker:${tok('b')},alice@ops:admin:${tok('c')}`,
      SAGAFLOW_METRICS_PUBLIC: 'true', SAGAFLOW_API_RATE_LIMIT: '0', SAGAFLOW_API_RATE_BURST: '5', SAGAFLOW_API_STATEMENT_TIMEOUT: '0',
    });
    expect(c.http.tokens).toEqual([
      { name: 'grafana', scope: 'read', token: tok('a') },
      { name: 'w-1', scope: 'worker', token: tok('b') },
      { name: 'alice@ops', scope: 'admin', token: tok('c') },
    ]);
    expect(accessOptions(c)).toEqual({ tokens: c.http.tokens, metricsPublic: true, rateLimit: { perMinute: 0, burst: 5 } });
    expect(JSON.stringify(redactConfig(c))).not.toContain(tok('a'));
  });

  it('a YAML-shaped list works as well', () => {
    expect(load({}, { 'http.tokens': [{ name: 'ops', token: tok('d'), scope: 'admin' }] }).http.tokens).toEqual([{ name: 'ops', token: tok('d'), scope: 'admin' }]);
  });

  it.each([
    [`x:owner:${tok('a')}`, /SAGAFLOW_API_TOKENS="\*\*\*".* is invalid at 0\.scope/],
    ['x:read:short', /is invalid at 0\.token/],
    [`bad name:read:${tok('a')}`, /is invalid at 0\.name/],
    [`x:read:${tok('a')},x:admin:${tok('b')}`, /token names must be unique/],
    [`x:read:${tok('a')},y:admin:${tok('a')}`, /tokens must be unique/],
  ])('refuses %s naming what is wrong, without echoing tokens', (value, message) => {
    let err: unknown;
    try {
      load({ SAGAFLOW_API_TOKENS: value });
    } catch (e) {
      err = e;
    }
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain(tok('a'));
  });
});
