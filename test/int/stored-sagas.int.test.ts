import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/core/errors.js';
import { startDaemon } from '../../src/daemon/daemon.js';
import { PgDb } from '../../src/postgres/pg-db.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { TaskProcessing } from '../../sagas/index.js';
import { runCli } from '../support/cli-harness.js';
import { databaseUrl, hasPostgres, uniqueSchema } from '../support/services.js';

/**
 * No silent examples: the bundled example sagas load only when no sagas module is configured AND the
 * database holds no instance of another saga. A deployment started without its `sagas` setting stops with
 * a ConfigError naming its sagas; a daemon whose configured module lacks stored sagas warns about them.
 */
const orderSagas = path.resolve(import.meta.dirname, '../support/test-saga.ts');

function storedSagasSuite(name: string, store: 'pglite' | 'postgres') {
  describe(`stored sagas against the loaded ones, ${name}`, () => {
    let dataDir: string;
    const schema = uniqueSchema('stored_sagas');
    const env = (extra: Record<string, string> = {}) => ({
      SAGAFLOW_DATA_DIR: dataDir,
      SAGAFLOW_LOG_LEVEL: 'silent',
      ...(store === 'postgres' ? { DATABASE_URL: databaseUrl!, SAGAFLOW_SCHEMA: schema } : {}),
      ...extra,
    });
    const config = (sagas?: string) =>
      loadConfig({
        env: {},
        cwd: dataDir,
        flags: {
          dataDir, 'bus.type': 'memory', 'http.port': 0, 'log.level': 'silent', sagas,
          ...(store === 'postgres' ? { 'store.type': 'postgres', 'database.url': databaseUrl!, 'database.schema': schema } : { 'store.type': 'pglite' }),
        },
      }).config;

    beforeAll(() => {
      dataDir = mkdtempSync(path.join(os.tmpdir(), 'sagaflow-stored-sagas-'));
    });
    afterAll(async () => {
      if (store === 'postgres') {
        const db = new PgDb({ connectionString: databaseUrl!, max: 1 });
        await db.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
        await db.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('with only example instances stored, the examples load by default', async () => {
      const pub = await runCli(['publish', 'task.created', '--data', '{"taskId":"t-1","taskType":"review"}'], env());
      expect(pub.stderr).toBe('');
      expect(pub.code).toBe(0);
      const listed = await runCli(['sagas', 'list', '--json'], env());
      expect(listed.code).toBe(0);
    });

    it('once another saga has instances, the CLI and the daemon refuse to run the examples over them', async () => {
      const pub = await runCli(['publish', 'order.placed', '--data', '{"orderId":"o-1"}'], env({ SAGAFLOW_SAGAS: orderSagas }));
      expect(pub.stderr).toBe('');
      expect(pub.code).toBe(0);

      const listed = await runCli(['sagas', 'list'], env());
      expect(listed.code).toBe(2);
      expect(listed.stderr).toMatch(/holds instances of Order, which the bundled example sagas do not define/);
      expect(listed.stderr).toMatch(/sagas: in sagaflow\.yaml, SAGAFLOW_SAGAS or --sagas/);

      const refused = await startDaemon({ config: config() }).then(
        async (d) => {
          await d.stop();
          return undefined;
        },
        (err: unknown) => err,
      );
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).message).toContain('instances of Order');
      // The refused start left the data directory free for the next one.
      expect((await runCli(['sagas', 'list'], env({ SAGAFLOW_SAGAS: orderSagas }))).code).toBe(0);
    });

    it('a daemon whose configured sagas miss stored ones starts, and warns naming them', async () => {
      const lines: string[] = [];
      const logger = pino({ level: 'warn' }, new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }));
      const daemon = await startDaemon({ config: config(orderSagas), logger, sagas: [TaskProcessing] });
      try {
        const warning = lines.map((l) => JSON.parse(l) as { level: number; msg: string; sagas?: string[] }).find((l) => l.level === 40);
        expect(warning?.sagas).toEqual(['Order']);
        expect(warning?.msg).toContain('does not load: Order');
      } finally {
        await daemon.stop({ timeoutMs: 5000 });
      }
    });
  });
}

storedSagasSuite('PGlite', 'pglite');
describe.runIf(hasPostgres())('real Postgres', () => storedSagasSuite('Postgres', 'postgres'));
