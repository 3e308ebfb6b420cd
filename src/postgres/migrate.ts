import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Db } from '../core/ports/db.js';
import { appendLockFor } from './append-lock.js';
import { quoteSchema } from './identifiers.js';

/** A numbered, forward-only migration. */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

const migrationsDir = fileURLToPath(new URL('./migrations/', import.meta.url));

/** The migrations shipped with sagaflow, in order (`NNNN_name.sql`). */
export function loadMigrations(dir: string = migrationsDir): Migration[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_.+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ''), sql: readFileSync(`${dir}/${f}`, 'utf8') }));
}

export interface MigrateResult {
  applied: string[];
  current: number;
}

/**
 * Applies pending migrations to `schema` in one transaction, serialised across processes by a
 * transaction-scoped advisory lock (so it also works behind a transaction-pooling proxy).
 * Forward-only: a database newer than this code is left alone and reported.
 */
export async function migrate(db: Db, options: { schema?: string; migrations?: Migration[] } = {}): Promise<MigrateResult> {
  const schemaName = options.schema ?? 'sagaflow';
  const schema = quoteSchema(schemaName);
  const migrations = options.migrations ?? loadMigrations();
  // A migration may append to the log (0004 moves unsent outbox rows into it): it holds the append lock
  // from BEGIN like every other appender, so a gap-free reader never passes its events.
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`sagaflow.migrate.${schemaName}`]);
    await tx.exec(`CREATE SCHEMA IF NOT EXISTS ${schema};
      CREATE TABLE IF NOT EXISTS ${schema}.schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
    const { rows } = await tx.query<{ version: number }>(`SELECT version FROM ${schema}.schema_migrations`);
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: string[] = [];
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.exec(m.sql.replaceAll('__SCHEMA__', schema));
      await tx.query(`INSERT INTO ${schema}.schema_migrations (version, name) VALUES ($1, $2)`, [m.version, m.name]);
      applied.push(m.name);
    }
    const current = Math.max(0, ...done, ...migrations.filter((m) => applied.includes(m.name)).map((m) => m.version));
    return { applied, current };
  }, { begin: appendLockFor(schemaName).sql });
}
