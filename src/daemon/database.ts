import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { SagaflowConfig } from '../config/schema.js';
import { UnavailableError } from '../core/errors.js';
import type { Db } from '../core/ports/db.js';
import { PgDb } from '../postgres/pg-db.js';
import { PgliteDb } from '../postgres/pglite-db.js';

/** An open database and how to describe it in logs (never with a password). */
export interface OpenedDatabase {
  db: Db;
  kind: 'postgres' | 'pglite';
  /** `./.sagaflow/data` or `postgres://user@host:port/db`. */
  where: string;
}

/** Describes a connection string without its password. */
export function describeDatabaseUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return 'postgres (unparseable URL)';
  }
}

/**
 * Opens the configured database: PGlite in `<dataDir>/data` on the embedded default, a `pg` pool
 * otherwise. Checks the connection so an unreachable server fails here with one clear line.
 */
export async function openDatabase(config: SagaflowConfig, options: { applicationName?: string; poolSize?: number } = {}): Promise<OpenedDatabase> {
  if (config.store.type === 'pglite') {
    const dir = path.join(config.dataDir, 'data');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    try {
      return { db: await PgliteDb.open(dir), kind: 'pglite', where: dir };
    } catch (err) {
      throw new UnavailableError(`cannot open the embedded database in ${dir}: ${(err as Error).message}`, { cause: err });
    }
  }
  const url = config.database.url!;
  const db = new PgDb({ connectionString: url, applicationName: options.applicationName ?? 'sagaflow', max: options.poolSize ?? 10 });
  try {
    await db.query('SELECT 1');
  } catch (err) {
    await db.close().catch(() => undefined);
    const reason = (err as Error).message || (err as { code?: string }).code || String(err);
    throw new UnavailableError(`cannot connect to the database at ${describeDatabaseUrl(url)}: ${reason}`, { cause: err });
  }
  return { db, kind: 'postgres', where: describeDatabaseUrl(url) };
}
