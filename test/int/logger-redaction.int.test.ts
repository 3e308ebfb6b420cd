import { Writable } from 'node:stream';
import { PGlite } from '@electric-sql/pglite';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { databaseUrl, hasPostgres, hasRedis, redisUrl } from '../support/services.js';

/**
 * Real driver errors carry secrets and payloads (ioredis: the failed command's arguments, `AUTH <password>`;
 * pg: `detail` with the failing row; PGlite: the statement's parameters). Each case first shows the canary
 * is in the raw error (the control), then that no line the daemon's logger writes, at debug level, in JSON
 * or pretty form, contains it.
 */
function capture(format: 'json' | 'pretty'): { logger: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return { logger: createLogger({ level: 'debug', format, destination, isTTY: false }), text: () => chunks.join('') };
}

function assertNotLogged(err: unknown, canary: string): void {
  for (const format of ['json', 'pretty'] as const) {
    const { logger, text } = capture(format);
    logger.error({ err }, 'operation failed');
    logger.debug({ err, cause: err }, 'operation failed (debug)');
    logger.warn({ error: err }, 'operation failed (as error)');
    expect(text().length).toBeGreaterThan(0);
    expect(text(), format).not.toContain(canary);
  }
}

const rawText = (err: unknown) => JSON.stringify(err, Object.getOwnPropertyNames(err as object)) + JSON.stringify(err);

describe('no secret or payload from a driver error reaches the log', () => {
  it('a URL with a password in an error message is masked', () => {
    const canary = `pw${crypto.randomUUID().slice(0, 8)}`;
    const err = new Error(`cannot connect to postgres://app:${canary}@db.internal:5432/app`, { cause: new Error(`redis://:${canary}@cache:6379 refused`) });
    expect(rawText(err)).toContain(canary);
    assertNotLogged(err, canary);
  });

  it('PGlite: the parameters of a failed statement (event data)', async () => {
    const canary = `payload-${crypto.randomUUID().slice(0, 8)}`;
    const db = new PGlite();
    try {
      const err = await db.query('SELECT $1::int AS n', [canary]).catch((e: unknown) => e);
      expect(rawText(err)).toContain(canary);
      assertNotLogged(err, canary);
    } finally {
      await db.close();
    }
  });

  describe.runIf(hasPostgres())('Postgres', () => {
    it('pg: the failing row in detail', async () => {
      const canary = `payload-${crypto.randomUUID().slice(0, 8)}`;
      const client = new pg.Client({ connectionString: databaseUrl });
      await client.connect();
      try {
        await client.query(`CREATE TEMP TABLE canary_rows (x text CHECK (x NOT LIKE 'payload-%'))`);
        const err = await client.query('INSERT INTO canary_rows (x) VALUES ($1)', [canary]).catch((e: unknown) => e);
        expect(rawText(err)).toContain(canary);
        assertNotLogged(err, canary);
      } finally {
        await client.end();
      }
    });
  });

  describe.runIf(hasRedis())('Redis', () => {
    it('ioredis: the AUTH password of a refused connection', async () => {
      const canary = `pw${crypto.randomUUID().slice(0, 8)}`;
      const url = new URL(redisUrl!);
      url.password = canary;
      const client = new Redis(url.toString(), { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      client.on('error', () => undefined);
      try {
        const err = await client.connect().then(() => client.auth(canary)).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect(rawText(err)).toContain(canary);
        assertNotLogged(err, canary);
      } finally {
        client.disconnect();
      }
    });
  });
});
