import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/load-config.js';
import { newId } from '../../src/core/ids.js';
import type { SagaDefinition } from '../../src/core/saga/define-saga.js';
import type { HandlerDefinition } from '../../src/core/worker/define-handler.js';
import type { ProjectionDefinition } from '../../src/core/sourcing/projection.js';
import type { AnyAggregateDefinition } from '../../src/core/sourcing/aggregate.js';
import { startDaemon, type Daemon } from '../../src/daemon/daemon.js';
import { quoteSchema } from '../../src/postgres/identifiers.js';
import { PgDb } from '../../src/postgres/pg-db.js';
import { databaseUrl, uniqueSchema } from './services.js';

/** A daemon for one test file, and how to throw it (its data directory, its schema) away. */
export interface TestDaemon {
  daemon: Daemon;
  token: string;
  /** The database schema (Postgres). */
  schema: string;
  dispose(): Promise<void>;
}

/**
 * Starts a daemon on embedded PGlite or on the test Postgres (a fresh schema), memory bus, any free port, a
 * random token, silent logs. `flags` adds config flags (e.g. retry delays).
 */
export async function openTestDaemon(
  store: 'pglite' | 'postgres',
  options: {
    name: string; sagas: readonly SagaDefinition[]; handlers?: readonly HandlerDefinition[]; projections?: readonly ProjectionDefinition[]; flags?: Record<string, unknown>;
    aggregates?: readonly AnyAggregateDefinition[];
    /** Postgres: join this schema (another daemon's) instead of a fresh one; it is then not dropped by `dispose`. */
    schema?: string;
  },
): Promise<TestDaemon> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `sagaflow-${options.name}-`));
  const token = `t-${newId()}`;
  const schema = options.schema ?? uniqueSchema(options.name.replace(/[^a-z0-9_]/g, '_'));
  const { config } = loadConfig({
    env: {},
    cwd: dataDir,
    flags: {
      dataDir, 'store.type': store, 'bus.type': 'memory', 'http.port': 0, 'http.token': token, 'log.level': 'silent', 'http.rateLimit.perMinute': 0,
      ...(options.flags ?? {}),
      ...(store === 'postgres' ? { 'database.url': databaseUrl!, 'database.schema': schema } : {}),
    },
  });
  const daemon = await startDaemon({
    config, sagas: options.sagas, ...(options.handlers ? { handlers: options.handlers } : {}), ...(options.projections ? { projections: options.projections } : {}),
    ...(options.aggregates ? { aggregates: options.aggregates } : {}),
  });
  return {
    daemon,
    token,
    schema,
    dispose: async () => {
      await daemon.stop({ timeoutMs: 5000 });
      if (store === 'postgres' && options.schema === undefined) {
        const db = new PgDb({ connectionString: databaseUrl!, max: 1 });
        await db.query(`DROP SCHEMA IF EXISTS ${quoteSchema(schema)} CASCADE`);
        await db.close();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
