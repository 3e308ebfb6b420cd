import net from 'node:net';
import { Redis } from 'ioredis';
import pg from 'pg';
import { databaseUrl, redisUrl, requireServices } from './services.js';

/** Where `npm test` looks for services when no SAGAFLOW_TEST_* variable names them. */
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';
const LOCAL_REDIS = 'redis://127.0.0.1:6379';

/**
 * A throwaway database on the local Postgres for this run (dropped at teardown), when one answers on the
 * default port and lets us in; otherwise why not.
 */
async function localPostgres(): Promise<{ url: string; drop: () => Promise<void> } | { why: string }> {
  if (!(await reachable(LOCAL_POSTGRES, 5432))) return { why: 'nothing answers on 127.0.0.1:5432' };
  const admin = new pg.Client({ connectionString: LOCAL_POSTGRES, connectionTimeoutMillis: 3000 });
  const name = `sagaflow_test_${process.pid}_${Date.now().toString(36)}`;
  try {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
  } catch (err) {
    return { why: `127.0.0.1:5432 answers but refused us (${(err as Error).message})` };
  } finally {
    await admin.end().catch(() => undefined);
  }
  const url = new URL(LOCAL_POSTGRES);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: LOCAL_POSTGRES, connectionTimeoutMillis: 3000 });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).finally(() => c.end());
    },
  };
}

/** The local Redis when it answers PING on the default port; otherwise why not. */
async function localRedis(): Promise<{ url: string } | { why: string }> {
  if (!(await reachable(LOCAL_REDIS, 6379))) return { why: 'nothing answers on 127.0.0.1:6379' };
  const r = new Redis(LOCAL_REDIS, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  r.on('error', () => undefined);
  try {
    await r.connect();
    await r.ping();
    return { url: LOCAL_REDIS };
  } catch (err) {
    return { why: `127.0.0.1:6379 answers but not to PING (${(err as Error).message})` };
  } finally {
    r.disconnect();
  }
}

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname || '127.0.0.1', port: Number(u.port || defaultPort) });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/**
 * Says which tiers run, and fails fast when services are required but missing or unreachable. Without
 * SAGAFLOW_TEST_* variables (and without SAGAFLOW_REQUIRE_SERVICES), a Postgres and a Redis answering on
 * their default local ports are used: a throwaway database for this run, dropped at the end (each test file
 * still works in a schema of its own), and Redis with per-test key prefixes.
 */
export default async function setup(): Promise<(() => Promise<void>) | void> {
  // Every vitest project inherits this setup; check and print once per run.
  const g = globalThis as { sagaflowTiersChecked?: boolean };
  if (g.sagaflowTiersChecked) return;
  g.sagaflowTiersChecked = true;
  const lines: string[] = [];
  const teardown: Array<() => Promise<void>> = [];
  let pgUrl = databaseUrl;
  let redis = redisUrl;
  if (!pgUrl && !requireServices) {
    const found = await localPostgres();
    if ('url' in found) {
      pgUrl = process.env.SAGAFLOW_TEST_DATABASE_URL = found.url;
      teardown.push(found.drop);
      lines.push(`[sagaflow tests] SAGAFLOW_TEST_DATABASE_URL is not set: using the local Postgres, throwaway database ${new URL(found.url).pathname.slice(1)}`);
    } else {
      lines.push(`[sagaflow tests] Postgres tier SKIPPED: SAGAFLOW_TEST_DATABASE_URL is not set and ${found.why} (PGlite and memory tiers still run)`);
    }
  }
  if (!redis && !requireServices) {
    const found = await localRedis();
    if ('url' in found) {
      redis = process.env.SAGAFLOW_TEST_REDIS_URL = found.url;
      lines.push(`[sagaflow tests] SAGAFLOW_TEST_REDIS_URL is not set: using the local Redis at ${found.url}`);
    } else {
      lines.push(`[sagaflow tests] Redis tier SKIPPED: SAGAFLOW_TEST_REDIS_URL is not set and ${found.why}`);
    }
  }
  for (const [name, url, port, env] of [
    ['Postgres', pgUrl, 5432, 'SAGAFLOW_TEST_DATABASE_URL'],
    ['Redis', redis, 6379, 'SAGAFLOW_TEST_REDIS_URL'],
  ] as const) {
    if (!url) {
      if (requireServices) throw new Error(`SAGAFLOW_REQUIRE_SERVICES=1 but ${env} is not set`);
      continue;
    }
    if (!(await reachable(url, port))) {
      const msg = `${name} at ${url} is unreachable (${env})`;
      if (requireServices) throw new Error(`SAGAFLOW_REQUIRE_SERVICES=1: ${msg}`);
      throw new Error(`${msg}; unset ${env} to skip that tier`);
    }
    lines.push(`[sagaflow tests] ${name} tier runs against ${url}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return async () => {
    for (const t of teardown) await t().catch((err: unknown) => process.stderr.write(`[sagaflow tests] cleanup failed: ${String(err)}\n`));
  };
}
