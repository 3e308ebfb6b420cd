import type { Logger } from 'pino';
import pino from 'pino';
import { ErrorCode, SagaflowError, ValidationError } from '../core/errors.js';
import type { InstanceMove, MigrationCandidate, SagaMigrationStore } from '../core/ports/saga-migrations.js';
import type { SagaQueries } from '../core/ports/saga-store.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { migrateInstance } from '../core/saga/migration.js';
import { finishedStatuses } from '../core/saga/status.js';
import { definitionFor, loadedVersions, migrationSources, versionsOf } from '../core/saga/versions.js';
import type { MigrateBatchRequest, MigrateBatchResult, MigrationFailure, SagaVersionSummary } from './operator-api.js';

/** Options of {@link SagaMigrationService}. */
export interface SagaMigrationServiceOptions {
  /** The loaded sagas (one combined definition per name, see `combineVersions`). */
  sagas: readonly SagaDefinition[];
  queries: Pick<SagaQueries, 'versionCounts'>;
  /** Without it, `migrateBatch` answers UNAVAILABLE. */
  store?: SagaMigrationStore;
  logger?: Logger;
  /** Times an instance changed by concurrent steps is re-read and transformed again within a batch. @default 5 */
  conflictRounds?: number;
}

/** @default batch size of `sagas migrate`. */
export const DEFAULT_MIGRATION_BATCH = 500;
/** The largest batch one call moves. */
export const MAX_MIGRATION_BATCH = 10_000;

const failureOf = (key: string, err: unknown): MigrationFailure => ({
  key,
  error: err instanceof SagaflowError ? err.toJSON() : { code: 'INTERNAL', message: err instanceof Error ? err.message : String(err), details: {} },
});

/**
 * Saga versions for operators: instances per version (`sagas list --version`, `status`) and the typed
 * migration of instances between versions (`sagas migrate`), one batch per call so the CLI can show
 * progress through the HTTP API as well as directly on the database.
 */
export class SagaMigrationService {
  private readonly byName: Map<string, SagaDefinition>;
  private readonly logger: Logger;

  constructor(private readonly o: SagaMigrationServiceOptions) {
    this.byName = new Map(o.sagas.map((s) => [s.name, s]));
    this.logger = o.logger ?? pino({ level: 'silent' });
  }

  /** Instances per (saga, version), plus every loaded version (with 0 instances when it has none yet). */
  async versions(saga?: string): Promise<SagaVersionSummary[]> {
    const rows = new Map<string, SagaVersionSummary>();
    const entry = (name: string, version: number) => {
      const id = `${name}\u0000${String(version).padStart(10, '0')}`;
      let row = rows.get(id);
      if (!row) {
        const def = this.byName.get(name);
        const loaded = def ? definitionFor(def, version) : undefined;
        row = {
          saga: name, version, loaded: loaded !== undefined, newest: def?.version === version,
          migratesFrom: loaded ? migrationSources(loaded) : [], instances: 0, open: 0, byStatus: {},
        };
        rows.set(id, row);
      }
      return row;
    };
    for (const def of this.o.sagas) if (saga === undefined || def.name === saga) for (const v of versionsOf(def)) entry(def.name, v.version);
    for (const c of await this.o.queries.versionCounts(saga)) {
      const row = entry(c.saga, c.definitionVersion);
      row.instances += c.instances;
      if (!finishedStatuses.has(c.status)) row.open += c.instances;
      row.byStatus[c.status] = (row.byStatus[c.status] ?? 0) + c.instances;
    }
    return [...rows.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, row]) => row);
  }

  /** The target definition of a migration, or a typed error saying what is missing. */
  private target(request: MigrateBatchRequest): SagaDefinition {
    const saga = this.byName.get(request.saga);
    if (!saga) {
      const known = [...this.byName.keys()].join(', ') || '(none loaded)';
      throw new SagaflowError(ErrorCode.NotFound, `unknown saga "${request.saga}"; known sagas: ${known}`, { details: { what: 'saga', id: request.saga } });
    }
    const loaded = loadedVersions(saga).map((v) => `v${v}`).join(', ');
    if (request.from === request.to) throw new ValidationError('migration', [{ path: 'to', message: `must differ from --from (both are ${request.from})` }]);
    const target = definitionFor(saga, request.to);
    if (!target) throw new ValidationError('migration', [{ path: 'to', message: `version ${request.to} of ${saga.name} is not loaded here (loaded: ${loaded}); load it in the sagas module` }]);
    if (!target.migrateFrom?.[request.from]) {
      const from = migrationSources(target).map((v) => `v${v}`).join(', ') || 'none';
      throw new ValidationError('migration', [{
        path: 'from',
        message: `version ${request.to} of ${saga.name} declares no migrateFrom[${request.from}] (it migrates from: ${from}); add migrateFrom: { ${request.from}: (snapshot) => ... } to its defineSaga`,
      }]);
    }
    return target;
  }

  /**
   * One batch: reads up to `batchSize` unfinished instances of version `from` after `after`, transforms each
   * (a failure is listed and leaves the instance as it is), and — unless dry — moves the rest in one
   * transaction. Instances changed by a concurrent step meanwhile are re-read and tried again, up to
   * `conflictRounds` times, then listed as failed (CONCURRENCY: run the migration again).
   */
  async migrateBatch(request: MigrateBatchRequest): Promise<MigrateBatchResult> {
    const target = this.target(request);
    const batchSize = request.batchSize ?? DEFAULT_MIGRATION_BATCH;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_MIGRATION_BATCH) {
      throw new ValidationError('migration', [{ path: 'batchSize', message: `must be an integer from 1 to ${MAX_MIGRATION_BATCH}, got ${String(batchSize)}` }]);
    }
    const store = this.o.store;
    if (!store) throw new SagaflowError(ErrorCode.Unavailable, 'saga migrations are not available here (no migration store is wired)');
    const { saga, from, to, dryRun } = request;
    const read = await store.candidates(saga, from, { limit: batchSize, ...(request.after !== undefined ? { after: request.after } : {}) });
    const failed: MigrationFailure[] = [];
    let moved = 0;
    let pending: MigrationCandidate[] = read;
    const rounds = this.o.conflictRounds ?? 5;
    for (let round = 1; pending.length > 0; round++) {
      const moves: InstanceMove[] = [];
      for (const c of pending) {
        try {
          const m = migrateInstance(target, c);
          moves.push({ key: c.key, expectedVersion: c.version, fromState: c.state, ...m });
        } catch (err) {
          this.logger.warn({ err, saga, sagaKey: c.key, from, to }, 'saga instance not migrated');
          failed.push(failureOf(c.key, err));
        }
      }
      if (dryRun) {
        moved += moves.length;
        break;
      }
      const done = new Set(await store.move(saga, from, to, moves, `migrated from v${from} to v${to} by operator`));
      moved += done.size;
      const conflicted = moves.filter((m) => !done.has(m.key)).map((m) => m.key);
      if (conflicted.length === 0) break;
      if (round >= rounds) {
        for (const key of conflicted) {
          failed.push(failureOf(key, new SagaflowError(ErrorCode.Concurrency, `instance "${key}" kept changing under concurrent steps (${rounds} tries); run the migration again`)));
        }
        break;
      }
      // Re-read: an instance that finished or moved meanwhile is no longer a candidate.
      pending = await store.candidates(saga, from, { keys: conflicted });
    }
    this.logger.info({ saga, from, to, dryRun, read: read.length, moved, failed: failed.length }, 'saga migration batch');
    const last = read.at(-1)?.key;
    return { saga, from, to, dryRun, read: read.length, moved, failed, ...(read.length === batchSize && last !== undefined ? { next: last } : {}) };
  }
}
