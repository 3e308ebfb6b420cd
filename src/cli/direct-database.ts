import type { Db } from '../core/ports/db.js';
import { UnavailableError } from '../core/errors.js';
import { acquireDataDirLock } from '../daemon/daemon-files.js';
import { resolveConfig, type CliContext, type GlobalOptions } from './context.js';

/**
 * Runs `fn` on the configured database itself, never through a daemon: for commands that read the stored
 * histories in bulk (`sagas export`, `verify`). On the embedded database the data directory's lock is taken
 * (PGlite allows one process), so a running daemon must be stopped first — or the command pointed at Postgres.
 */
export async function withDatabase<T>(opts: GlobalOptions, ctx: CliContext, fn: (db: Db, schema: string) => Promise<T>): Promise<T> {
  const { config } = resolveConfig(opts, ctx);
  const [{ openDatabase }, { migrate }] = await Promise.all([import('../daemon/database.js'), import('../postgres/migrate.js')]);
  let release = () => {};
  if (config.store.type === 'pglite') {
    const lock = acquireDataDirLock(config.dataDir, 'cli');
    if (!('release' in lock)) {
      throw new UnavailableError(
        `the embedded database in ${config.dataDir} is in use by pid ${lock.heldBy.pid} (sagaflow ${lock.heldBy.role}); PGlite allows one process per data directory: stop it and run this again`,
      );
    }
    release = lock.release;
  }
  try {
    const database = await openDatabase(config, { applicationName: 'sagaflow-cli', poolSize: 2 });
    try {
      await migrate(database.db, { schema: config.database.schema });
      return await fn(database.db, config.database.schema);
    } finally {
      await database.db.close();
    }
  } finally {
    release();
  }
}
