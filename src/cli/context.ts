import { Option, type Command } from 'commander';
import { ApiClient } from '../api/client.js';
import type { OperatorApi } from '../app/operator-api.js';
import { loadConfig, type LoadedConfig } from '../config/load-config.js';
import type { SagaflowConfig } from '../config/schema.js';
import { UnavailableError } from '../core/errors.js';
import { acquireDataDirLock, isProcessAlive, readDaemonInfo, readTokenFile } from '../daemon/daemon-files.js';
import type { Output } from './output.js';

/** Options every command accepts (defined on the root program). */
export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  databaseUrl?: string;
  schema?: string;
  url?: string;
  token?: string;
  json?: boolean;
  debug?: boolean;
  logLevel?: string;
  logFormat?: string;
}

/** What commands get besides their arguments. */
export interface CliContext {
  output: Output;
  env: Record<string, string | undefined>;
  cwd: string;
}

/** Global options of a command (its own merged with the root program's). */
export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

/** Resolves config from the global flags (plus command-specific flag values keyed by config path). */
export function resolveConfig(opts: GlobalOptions, ctx: CliContext, flags: Record<string, unknown> = {}): LoadedConfig {
  return loadConfig({
    env: ctx.env,
    cwd: ctx.cwd,
    ...(opts.config !== undefined ? { configPath: opts.config } : {}),
    flags: {
      dataDir: opts.dataDir,
      'database.url': opts.databaseUrl,
      'database.schema': opts.schema,
      'http.token': opts.token,
      'log.level': opts.logLevel,
      'log.format': opts.logFormat,
      ...flags,
    },
  });
}

/** How a command reached the engine. */
export type Route = { kind: 'daemon'; url: string } | { kind: 'direct' };

export interface WithOperatorOptions {
  /** Migrate before running in direct mode (every command but `migrate` itself). @default true */
  autoMigrate?: boolean;
  /** How long to wait for a starting daemon or another CLI holding the embedded database. @default 30000 */
  waitMs?: number;
  /** Why (a mutating command's `--reason`): the daemon records it in its audit log and refuses a change without one. */
  reason?: string;
}

/** The {@link WithOperatorOptions} carrying a command's `--reason`, when given. */
export const withReason = (o: { reason?: string }): WithOperatorOptions => (o.reason !== undefined ? { reason: o.reason } : {});

/** The `--reason` option of every command that changes something (default: `SAGAFLOW_REASON`). */
export const reasonOption = (): Option => new Option('--reason <text>', 'why: recorded in the daemon\'s audit log (required through a daemon)');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` with an {@link OperatorApi}, closed after. The route: an explicit `--url` /
 * `SAGAFLOW_URL` → that daemon. On the embedded database (PGlite, one process per data directory):
 * a running daemon found through `<dataDir>/daemon.json` → its HTTP API; otherwise the CLI takes the
 * data directory's lock and opens the database itself (waiting while a daemon starts or another
 * command holds it). On Postgres → the database directly.
 */
export async function withOperator<T>(opts: GlobalOptions, ctx: CliContext, fn: (api: OperatorApi, route: Route) => Promise<T>, options: WithOperatorOptions = {}): Promise<T> {
  const { config } = resolveConfig(opts, ctx);
  const viaDaemon = (url: string) => {
    const token = config.http.token ?? readTokenFile(config.dataDir);
    if (!token) throw new UnavailableError(`no API token for the daemon at ${url}: set SAGAFLOW_API_TOKEN or --token`);
    const reason = options.reason ?? ctx.env.SAGAFLOW_REASON;
    return fn(new ApiClient({ url, token, ...(reason ? { reason } : {}) }), { kind: 'daemon', url });
  };
  const explicit = opts.url ?? ctx.env.SAGAFLOW_URL;
  if (explicit) return viaDaemon(explicit);
  if (config.store.type === 'postgres') return direct(config, ctx, fn, options);
  const deadline = Date.now() + (options.waitMs ?? 30_000);
  for (;;) {
    const info = readDaemonInfo(config.dataDir);
    if (info?.url && isProcessAlive(info.pid)) return viaDaemon(info.url);
    const lock = acquireDataDirLock(config.dataDir, 'cli');
    if ('release' in lock) {
      try {
        return await direct(config, ctx, fn, options);
      } finally {
        lock.release();
      }
    }
    if (Date.now() > deadline) {
      throw new UnavailableError(`the data directory ${config.dataDir} is in use by pid ${lock.heldBy.pid} (sagaflow ${lock.heldBy.role}) and no daemon URL appeared; PGlite allows one process per data directory`);
    }
    await sleep(200);
  }
}

async function direct<T>(config: SagaflowConfig, ctx: CliContext, fn: (api: OperatorApi, route: Route) => Promise<T>, options: WithOperatorOptions): Promise<T> {
  // Loaded on demand: the database drivers, xstate and the runtime are not needed to talk to a daemon.
  const [{ loadSagaModule, checkStoredSagas }, { openDatabase }, { migrate }, { createEngine }] = await Promise.all([
    import('../daemon/load-sagas.js'),
    import('../daemon/database.js'),
    import('../postgres/migrate.js'),
    import('../daemon/engine.js'),
  ]);
  const { sagas, projections, aggregates } = await loadSagaModule(config.sagas, ctx.cwd);
  const database = await openDatabase(config, { applicationName: 'sagaflow-cli', poolSize: 2 });
  try {
    const migrated = options.autoMigrate ?? true;
    if (migrated) await migrate(database.db, { schema: config.database.schema });
    const engine = createEngine({ config, database, sagas, projections, aggregates, mode: 'direct' });
    // Not for `migrate` itself: before it the tables may not exist, and it runs no saga.
    if (migrated) await checkStoredSagas(engine.repository, sagas, config.sagas !== undefined);
    return await fn(engine.operator, { kind: 'direct' });
  } finally {
    await database.db.close();
  }
}
