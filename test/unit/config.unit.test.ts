import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { loadConfig, redactConfig } from '../../src/config/load-config.js';
import { formatDuration, parseDuration } from '../../src/config/duration.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-config-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const yaml = (text: string, name = 'sagaflow.yaml') => writeFileSync(path.join(dir, name), text);
const load = (env: Record<string, string> = {}, flags: Record<string, unknown> = {}, configPath?: string) =>
  loadConfig({ env, cwd: dir, flags, ...(configPath ? { configPath } : {}) }).config;
const failure = (fn: () => unknown): ConfigError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('config defaults', () => {
  it('runs on embedded PGlite, memory bus, 127.0.0.1:7070 with nothing set', () => {
    const c = load();
    expect(c.store.type).toBe('pglite');
    expect(c.database.url).toBeUndefined();
    expect(c.bus).toEqual({ type: 'memory', bufferSize: 10_000, workers: 10, overflow: 'wait' });
    expect(c.http.host).toBe('127.0.0.1');
    expect(c.http.port).toBe(7070);
    expect(c.dataDir).toBe('./.sagaflow');
    expect(c.processing.timeoutMs).toBe(30_000);
    expect(c.processing.retry).toMatchObject({ maxAttempts: 3, backoff: 'exponential' });
  });

  it('uses Postgres when DATABASE_URL is set', () => {
    const c = load({ DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db' });
    expect(c.store.type).toBe('postgres');
    expect(c.database.url).toBe('postgres://u:p@127.0.0.1:5432/db');
  });
});

describe('config precedence: defaults < file < env < flags', () => {
  it('reads the design notes YAML layout', () => {
    yaml(`events:
  bus:
    type: memory
    buffer_size: 500
    workers: 4
  store:
    type: pglite
    snapshot_frequency: 20
    retention_days: 30
  processing:
    batch_size: 50
    timeout: 5s
    retry:
      max_attempts: 7
      backoff: fixed
  subscriptions:
    - event_type: "*.created"
      handlers: [websocket_broadcast, audit_logger]
    - event_type: "task.*"
      handlers: [task_processor]
`);
    const c = load();
    expect(c.bus.bufferSize).toBe(500);
    expect(c.bus.workers).toBe(4);
    expect(c.store).toEqual({ type: 'pglite', snapshotFrequency: 20, retentionDays: 30, retentionMode: 'delete' });
    expect(c.processing.batchSize).toBe(50);
    expect(c.processing.timeoutMs).toBe(5000);
    expect(c.processing.retry.maxAttempts).toBe(7);
    expect(c.processing.retry.backoff).toBe('fixed');
    expect(c.subscriptions).toEqual([
      { event_type: '*.created', handlers: ['websocket_broadcast', 'audit_logger'] },
      { event_type: 'task.*', handlers: ['task_processor'] },
    ]);
  });

  it('env beats the file and flags beat env', () => {
    yaml('events:\n  bus:\n    workers: 4\nhttp:\n  port: 8000\n');
    expect(load().http.port).toBe(8000);
    expect(load({ SAGAFLOW_HTTP_PORT: '8001' }).http.port).toBe(8001);
    expect(load({ SAGAFLOW_HTTP_PORT: '8001' }, { 'http.port': '8002' }).http.port).toBe(8002);
    expect(load({ EVENT_BUS_WORKERS: '6' }).bus.workers).toBe(6);
    expect(load().bus.workers).toBe(4);
  });

  it('reads an explicit --config file instead of ./sagaflow.yaml', () => {
    yaml('http:\n  port: 8000\n');
    yaml('http:\n  port: 9000\n', 'other.yaml');
    expect(load({}, {}, 'other.yaml').http.port).toBe(9000);
  });

  it('accepts the design notes environment names', () => {
    const c = load({
      EVENT_BUS_TYPE: 'redis',
      EVENT_BUS_BUFFER_SIZE: '20000',
      EVENT_BUS_WORKERS: '3',
      REDIS_ADDR: '127.0.0.1:6390',
      REDIS_EVENT_CHANNEL_PREFIX: 'mcp:events',
      EVENT_STORE_TYPE: 'postgres',
      DATABASE_URL: 'postgres://127.0.0.1/x',
      EVENT_STORE_SNAPSHOT_FREQUENCY: '5',
      EVENT_STORE_RETENTION_DAYS: '7',
      EVENT_PROCESSING_BATCH_SIZE: '10',
      EVENT_PROCESSING_TIMEOUT: '2m',
      SAGAFLOW_SCHEMA: 'other_schema',
      SAGAFLOW_DATA_DIR: '/var/lib/sagaflow',
      SAGAFLOW_HTTP_HOST: '0.0.0.0',
      SAGAFLOW_API_TOKEN: 'x'.repeat(32),
    });
    expect(c.bus).toEqual({ type: 'redis', bufferSize: 20_000, workers: 3, overflow: 'wait' });
    expect(c.redis).toEqual({ url: 'redis://127.0.0.1:6390', channelPrefix: 'mcp:events' });
    expect(c.store).toEqual({ type: 'postgres', snapshotFrequency: 5, retentionDays: 7, retentionMode: 'delete' });
    expect(c.processing.batchSize).toBe(10);
    expect(c.processing.timeoutMs).toBe(120_000);
    expect(c.database.schema).toBe('other_schema');
    expect(c.dataDir).toBe('/var/lib/sagaflow');
    expect(c.http.host).toBe('0.0.0.0');
    expect(c.http.token).toBe('x'.repeat(32));
  });

  it('takes the Host allow-list and the steps per transaction from the environment', () => {
    const c = load({ SAGAFLOW_HTTP_ALLOWED_HOSTS: 'sagaflow.internal, LocalHost,[::1]', EVENT_PROCESSING_STEPS_PER_TRANSACTION: '8' });
    expect(c.http.allowedHosts).toEqual(['sagaflow.internal', 'localhost', '[::1]']);
    expect(c.processing.stepsPerTransaction).toBe(8);
    expect(load({}).http.allowedHosts).toBeUndefined();
    expect(() => load({ SAGAFLOW_HTTP_ALLOWED_HOSTS: 'bad host/name' })).toThrow(/SAGAFLOW_HTTP_ALLOWED_HOSTS/);
  });

  it('REDIS_URL wins over REDIS_ADDR', () => {
    expect(load({ REDIS_URL: 'redis://127.0.0.1:1111', REDIS_ADDR: '127.0.0.1:2222' }).redis.url).toBe('redis://127.0.0.1:1111');
  });

  it('treats an empty environment variable as unset', () => {
    expect(load({ SAGAFLOW_HTTP_PORT: '' }).http.port).toBe(7070);
  });
});

describe('bad config values name the key, the value and what is accepted', () => {
  const cases: Array<[string, Record<string, string>, string]> = [
    ['bus type', { EVENT_BUS_TYPE: 'kafka' }, 'EVENT_BUS_TYPE="kafka" is invalid: expected one of memory, redis, hybrid'],
    ['workers', { EVENT_BUS_WORKERS: '-3' }, 'EVENT_BUS_WORKERS="-3" is invalid: expected an integer from 1 to 1024'],
    ['buffer size', { EVENT_BUS_BUFFER_SIZE: 'lots' }, 'EVENT_BUS_BUFFER_SIZE="lots" is invalid: expected an integer from 1 to 10000000'],
    ['timeout', { EVENT_PROCESSING_TIMEOUT: 'soon' }, 'EVENT_PROCESSING_TIMEOUT="soon" is invalid: expected a duration such as 500ms, 30s'],
    ['port', { SAGAFLOW_HTTP_PORT: '70000' }, 'SAGAFLOW_HTTP_PORT="70000" is invalid: expected an integer from 0 to 65535'],
    ['schema', { SAGAFLOW_SCHEMA: 'Robert"; drop' }, 'SAGAFLOW_SCHEMA="Robert\\"; drop" is invalid: expected a lower-case SQL identifier'],
    ['store type', { EVENT_STORE_TYPE: 'mongo' }, 'EVENT_STORE_TYPE="mongo" is invalid: expected one of postgres, pglite'],
    ['backoff', { EVENT_RETRY_BACKOFF: 'linear' }, 'EVENT_RETRY_BACKOFF="linear" is invalid: expected one of exponential, fixed'],
    ['log level', { SAGAFLOW_LOG_LEVEL: 'loud' }, 'SAGAFLOW_LOG_LEVEL="loud" is invalid: expected one of trace, debug'],
    ['redis addr', { REDIS_ADDR: 'nope' }, 'REDIS_ADDR="nope" is invalid: expected host:port'],
    ['redis without url', { EVENT_BUS_TYPE: 'redis' }, 'EVENT_BUS_TYPE="redis" needs Redis: set REDIS_URL or REDIS_ADDR'],
    ['postgres without url', { EVENT_STORE_TYPE: 'postgres' }, 'EVENT_STORE_TYPE="postgres" needs a database: set DATABASE_URL'],
  ];
  for (const [name, env, message] of cases) {
    it(name, () => {
      const err = failure(() => load(env));
      expect(err.message).toContain(message);
      expect(err.message).not.toContain('\n');
      expect(err.code).toBe('CONFIG');
    });
  }

  it('masks secrets in the message but says how long the token was', () => {
    const token = failure(() => load({ SAGAFLOW_API_TOKEN: 'hunter2' }));
    expect(token.message).toBe('SAGAFLOW_API_TOKEN="***" (7 characters) is invalid: expected a string of 16 to 1024 characters');
    const db = failure(() => load({ DATABASE_URL: 'mysql://me:s3cret@127.0.0.1/db' }));
    expect(db.message).toContain('DATABASE_URL="mysql://me:***@127.0.0.1/db" is invalid: expected a postgres:// URL');
    expect(db.message).not.toContain('s3cret');
  });

  it('names a flag as --flag', () => {
    expect(failure(() => load({}, { 'http.port': 'abc' })).message).toContain('--port="abc" is invalid: expected an integer from 0 to 65535');
  });

  it('names a YAML key with its file', () => {
    yaml('events:\n  bus:\n    workers: 0\n');
    expect(failure(() => load()).message).toBe('events.bus.workers (in sagaflow.yaml)=0 is invalid: expected an integer from 1 to 1024');
  });

  it('rejects an unknown YAML key and lists the accepted ones', () => {
    yaml('events:\n  bus:\n    tpye: redis\n');
    const err = failure(() => load());
    expect(err.message).toContain('events.bus.tpye (in sagaflow.yaml): unknown key; accepted here: type, buffer_size, workers, overflow');
  });

  it('rejects a bad subscription pattern naming the entry', () => {
    yaml('events:\n  subscriptions:\n    - event_type: "task.**"\n      handlers: [x]\n');
    expect(failure(() => load()).message).toContain('events.subscriptions (in sagaflow.yaml)');
    expect(failure(() => load()).message).toContain('at 0.event_type');
  });

  it('reports invalid YAML in one line', () => {
    yaml('events: [unclosed\n');
    const err = failure(() => load());
    expect(err.message).toMatch(/^config file .*sagaflow\.yaml is not valid YAML: /);
    expect(err.message).not.toContain('\n');
  });

  it('reports a missing --config file', () => {
    expect(failure(() => load({}, {}, 'missing.yaml')).message).toBe('config file missing.yaml does not exist (given with --config)');
  });
});

describe('redaction', () => {
  it('masks the token and passwords, keeps the rest', () => {
    const c = load({ DATABASE_URL: 'postgres://u:pw@127.0.0.1/db', SAGAFLOW_API_TOKEN: 't'.repeat(20), REDIS_URL: 'redis://:rpw@127.0.0.1:6379' });
    const r = redactConfig(c) as { database: { url: string }; http: { token: string; port: number }; redis: { url: string } };
    expect(r.database.url).toBe('postgres://u:***@127.0.0.1/db');
    expect(r.http.token).toBe('***');
    expect(r.redis.url).toBe('redis://:***@127.0.0.1:6379');
    expect(r.http.port).toBe(7070);
    expect(JSON.stringify(r)).not.toContain('pw@');
    expect(c.http.token).toBe('t'.repeat(20));
  });
});

describe('durations', () => {
  it('parses and formats', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('-5s')).toBeUndefined();
    expect(formatDuration(65_000)).toBe('1m 5s');
    expect(formatDuration(90_061_000)).toBe('1d 1h');
  });
});
