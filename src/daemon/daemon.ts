import type { Logger } from 'pino';
import pino from 'pino';
import { startApiServer, type ApiServer } from '../api/server.js';
import type { SagaflowConfig } from '../config/schema.js';
import path from 'node:path';
import { UnavailableError } from '../core/errors.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { createMetrics, type SagaflowMetrics } from '../observability/metrics.js';
import { migrate } from '../postgres/migrate.js';
import { acquireDataDirLock, ensureTokenFile, readDaemonInfo, removeDaemonInfo, writeDaemonInfo } from './daemon-files.js';
import { openDatabase, type OpenedDatabase } from './database.js';
import { createEngine, type Engine } from './engine.js';
import { buildLiveFeed } from './live.js';
import { accessOptions } from './access.js';
import { checkStoredSagas, loadSagaModule } from './load-sagas.js';
import type { ProjectionDefinition } from '../core/sourcing/projection.js';
import type { HandlerDefinition } from '../core/worker/define-handler.js';
import type { AnyAggregateDefinition } from '../core/sourcing/aggregate.js';

export interface DaemonOptions {
  config: SagaflowConfig;
  logger?: Logger;
  /** Saga definitions; default: loaded from `config.sagas` or the bundled `sagas/`. */
  sagas?: readonly SagaDefinition[];
  /** Command handlers run in process; default: those the sagas module exports (none with `sagas` given). */
  handlers?: readonly HandlerDefinition[];
  /** Projections kept; default: those the sagas module exports (none with `sagas` given). */
  projections?: readonly ProjectionDefinition[];
  /** Aggregates whose event types publish accepts; default: those the sagas module exports (none with `sagas` given). */
  aggregates?: readonly AnyAggregateDefinition[];
}

/** A running daemon. */
export interface Daemon {
  readonly url: string;
  /** The HTTP API: its `server` (for an upgrade handler), `authenticate`, and the routes it serves. */
  readonly api: ApiServer;
  readonly engine: Engine;
  readonly database: OpenedDatabase;
  readonly metrics: SagaflowMetrics;
  /** Drains (HTTP, bus, relay, poller) for up to `timeoutMs`, then closes the database. Idempotent. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

/**
 * The composition root: config → database (PGlite in `<dataDir>/data` without `DATABASE_URL`) →
 * migrate → stores → bus → saga runtime (+ saga reader, bus relay, timer poller) → HTTP API. On the embedded
 * default it writes `<dataDir>/api-token` (0600) and `<dataDir>/daemon.json` so the CLI finds it.
 */
export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config } = options;
  const logger = options.logger ?? pino({ level: 'silent' });
  const embedded = config.store.type === 'pglite';

  const loaded = options.sagas ? { sagas: options.sagas, handlers: [], projections: [], aggregates: [] } : await loadSagaModule(config.sagas);
  const sagas = loaded.sagas;
  const handlers = options.handlers ?? loaded.handlers;
  const projections = options.projections ?? loaded.projections;
  const aggregates = options.aggregates ?? loaded.aggregates;
  // PGlite allows one process per data directory: hold its lock for the daemon's life, and say
  // "starting" in daemon.json at once so a CLI waits for the URL instead of opening the database.
  let release = () => {};
  if (embedded) {
    const lock = acquireDataDirLock(config.dataDir, 'daemon');
    if ('heldBy' in lock) {
      const info = readDaemonInfo(config.dataDir);
      throw new UnavailableError(
        `the data directory ${config.dataDir} is in use by pid ${lock.heldBy.pid} (sagaflow ${lock.heldBy.role}${info?.url ? `, ${info.url}` : ''}); PGlite allows one process per data directory`,
      );
    }
    release = lock.release;
    writeDaemonInfo(config.dataDir, { pid: process.pid, url: '', startedAt: new Date().toISOString(), database: 'pglite', schema: config.database.schema });
    logger.info({ dataDir: config.dataDir }, `using embedded PGlite in ${path.join(config.dataDir, 'data')} (set DATABASE_URL to use Postgres)`);
  }
  let database: OpenedDatabase;
  try {
    database = await openDatabase(config, { applicationName: `sagaflow-daemon/${process.pid}` });
  } catch (err) {
    removeDaemonInfo(config.dataDir);
    release();
    throw err;
  }
  if (!embedded) logger.info({ database: database.where }, `using Postgres at ${database.where}`);
  let engine: Engine | undefined;
  let api: ApiServer | undefined;
  try {
    const result = await migrate(database.db, { schema: config.database.schema });
    logger.info({ schema: config.database.schema, applied: result.applied, current: result.current }, 'database migrated');

    const queue: { engine?: Engine } = {};
    const metrics = createMetrics({
      queueDepths: async () => ({ due_timers: (await queue.engine?.repository.countDueTimers()) ?? 0 }),
    });
    engine = createEngine({ config, database, sagas, handlers, projections, aggregates, mode: 'daemon', logger, metrics });
    queue.engine = engine;
    const unloaded = await checkStoredSagas(engine.repository, sagas, options.sagas !== undefined || config.sagas !== undefined);
    if (unloaded.length > 0) {
      logger.warn({ sagas: unloaded }, `the database holds instances of sagas this daemon does not load: ${unloaded.join(', ')}; they wait until a daemon loads them`);
    }
    await engine.start();

    const token = config.http.token ?? ensureTokenFile(config.dataDir);
    let ready = false;
    const started = { engine };
    const live = buildLiveFeed(engine, database, config.database.schema, logger);
    api = await startApiServer({
      api: engine.operator, token, ...(engine.work ? { work: engine.work } : {}), host: config.http.host, port: config.http.port, maxBodyBytes: config.http.maxBodyBytes, metrics,
      ...accessOptions(config), audit: engine.auditLog,
      ...(config.http.allowedHosts ? { allowedHosts: config.http.allowedHosts } : {}),
      live, ...(config.http.allowedOrigins ? { allowedOrigins: config.http.allowedOrigins } : {}),
      logger: logger.child({ component: 'api' }),
      ready: async () => {
        if (!ready) return { ready: false, checks: { daemon: 'starting or stopping' } };
        const checks = await started.engine.health();
        return { ready: Object.values(checks).every((v) => v === 'ok'), checks };
      },
    });
    const url = api.url;
    writeDaemonInfo(config.dataDir, { pid: process.pid, url, startedAt: new Date().toISOString(), database: database.kind, schema: config.database.schema });
    ready = true;
    logger.info({ url, sagas: sagas.map((s) => s.name), handlers: handlers.map((h) => h.name), projections: projections.map((p) => p.name), bus: config.bus.type }, `sagaflow daemon listening on ${url}`);

    const running = { engine, api };
    let stopping: Promise<void> | undefined;
    return {
      url,
      api,
      engine,
      database,
      metrics,
      stop({ timeoutMs = config.shutdownTimeoutMs } = {}) {
        stopping ??= (async () => {
          ready = false;
          logger.info({ timeoutMs }, 'stopping: draining work in flight');
          await running.api.stop({ timeoutMs });
          await live.stop();
          await running.engine.stop({ drainTimeoutMs: timeoutMs });
          await database.db.close();
          removeDaemonInfo(config.dataDir);
          release();
          logger.info('stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    await api?.stop({ timeoutMs: 1000 }).catch(() => undefined);
    await engine?.stop({ drainTimeoutMs: 1000 }).catch(() => undefined);
    await database.db.close().catch(() => undefined);
    removeDaemonInfo(config.dataDir);
    release();
    throw err;
  }
}
