/**
 * `sagaflow verify`: replays stored saga instances through the saga definitions about to be deployed and
 * reports, per instance, whether they would carry on as stored (see `docs/versioning.md`).
 */
import { migrateInstance } from '../core/saga/migration.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import type { ExportedInstance } from './saga-export-format.js';
import { DivergenceKind, replayInstance, type Divergence } from './verify-replay.js';

/** What verify concluded for one instance. */
export const VerifyOutcome = {
  /** The history replays through the definition of the instance's version without a difference. */
  Ok: 'ok',
  /** The definition of the instance's version decides differently somewhere (see `divergence`). */
  Diverged: 'diverged',
  /** No definition of the instance's version is loaded and the newest declares no migration from it. */
  NeedsMigration: 'needs-migration',
  /** The newest definition's declared migration from the instance's version gives a snapshot it can run. */
  Migrates: 'migrates',
  /** The declared migration throws, or gives a snapshot the newest machine cannot restore. */
  MigrationFailed: 'migration-failed',
  /**
   * A step's cause is no longer in the log (event retention removes what finished instances applied): the replay
   * stopped there. Not failing: it says nothing about the new definition.
   */
  Unverifiable: 'unverifiable',
  /** No definition of the saga is loaded at all. */
  UnknownSaga: 'unknown-saga',
} as const;
export type VerifyOutcome = (typeof VerifyOutcome)[keyof typeof VerifyOutcome];

/** Outcomes that block a deploy (`sagaflow verify` exits non-zero). */
export const failingOutcomes: ReadonlySet<VerifyOutcome> = new Set<VerifyOutcome>([
  VerifyOutcome.Diverged, VerifyOutcome.NeedsMigration, VerifyOutcome.MigrationFailed, VerifyOutcome.UnknownSaga,
]);

/** One instance's result. */
export interface VerifyInstanceResult {
  saga: string;
  key: string;
  status: ExportedInstance['status'];
  /** The definition version the instance is stored on. */
  storedVersion: number;
  /** The version its history was replayed through (null: none). */
  replayedWith: number | null;
  outcome: VerifyOutcome;
  stepsReplayed: number;
  stepsSkipped: number;
  /** The first difference of the replay (for `needs-migration`: of the replay through the newest version). */
  divergence?: Divergence;
  /** Why a declared migration failed. */
  migrationError?: string;
}

/** Counts per outcome, and whether the deploy is safe. */
export interface VerifySummary {
  instances: number;
  byOutcome: Record<VerifyOutcome, number>;
  /** True when no instance has a failing outcome. */
  ok: boolean;
}

/** The definitions by saga name, each name's versions newest first. */
function byName(definitions: readonly SagaDefinition[]): Map<string, SagaDefinition[]> {
  const out = new Map<string, SagaDefinition[]>();
  for (const d of definitions) out.set(d.name, [...(out.get(d.name) ?? []), d].sort((a, b) => b.version - a.version));
  return out;
}

/**
 * Verifies one instance against the loaded definitions:
 * - a loaded definition of its stored version (the new module's, which may have changed): replay through it;
 * - otherwise, a migration the newest version declares from it: run the stored snapshot through it;
 * - otherwise `needs-migration`, with the replay through the newest version attached, which tells whether an
 *   identity migration (or keeping the old version loaded) would do.
 */
export async function verifyInstance(versions: readonly SagaDefinition[] | undefined, instance: ExportedInstance): Promise<VerifyInstanceResult> {
  const base = { saga: instance.saga, key: instance.key, status: instance.status, storedVersion: instance.definitionVersion };
  const newest = versions?.[0];
  if (!newest) return { ...base, replayedWith: null, outcome: VerifyOutcome.UnknownSaga, stepsReplayed: 0, stepsSkipped: 0 };
  const same = versions.find((d) => d.version === instance.definitionVersion);
  if (same) {
    const verdict = replayInstance(same, instance);
    const counts = { stepsReplayed: verdict.stepsReplayed, stepsSkipped: verdict.stepsSkipped };
    if (verdict.divergence) {
      const outcome = verdict.divergence.kind === DivergenceKind.MissingEvent ? VerifyOutcome.Unverifiable : VerifyOutcome.Diverged;
      return { ...base, replayedWith: same.version, outcome, ...counts, divergence: verdict.divergence };
    }
    return { ...base, replayedWith: same.version, outcome: VerifyOutcome.Ok, ...counts };
  }
  // A migration the newest version declares from the stored one (`migrateFrom`): run it as `sagas migrate`
  // would, writing nothing (`migrateInstance` checks the context schema and that the state exists).
  if (newest.migrateFrom?.[instance.definitionVersion]) {
    let error: string | undefined;
    try {
      migrateInstance(newest, instance);
    } catch (err) {
      error = (err as Error).message;
    }
    return {
      ...base, replayedWith: null, stepsReplayed: 0, stepsSkipped: 0,
      ...(error ? { outcome: VerifyOutcome.MigrationFailed, migrationError: error } : { outcome: VerifyOutcome.Migrates }),
    };
  }
  const verdict = replayInstance(newest, instance);
  return {
    ...base, replayedWith: newest.version, outcome: VerifyOutcome.NeedsMigration, stepsReplayed: verdict.stepsReplayed, stepsSkipped: verdict.stepsSkipped,
    ...(verdict.divergence ? { divergence: verdict.divergence } : {}),
  };
}

/** Options of {@link verifyInstances}. */
export interface VerifyOptions {
  /** Keep the results of `ok` instances too (they are counted either way). @default false */
  includeOk?: boolean;
  /** Called after each instance (progress bars). */
  onResult?: (result: VerifyInstanceResult) => void;
}

/**
 * Verifies every instance of `instances` (an export, or the database read as one) against `definitions`
 * (every loaded version of every saga). Results list the instances that are not `ok` (all with `includeOk`).
 *
 * @example
 * const { results, summary } = await verifyInstances(await loadSagas('./sagas'), readExport(lines));
 * if (!summary.ok) process.exitCode = 1;
 */
export async function verifyInstances(
  definitions: readonly SagaDefinition[],
  instances: AsyncIterable<ExportedInstance> | Iterable<ExportedInstance>,
  options: VerifyOptions = {},
): Promise<{ results: VerifyInstanceResult[]; summary: VerifySummary }> {
  const versions = byName(definitions);
  const results: VerifyInstanceResult[] = [];
  const byOutcome = Object.fromEntries(Object.values(VerifyOutcome).map((o) => [o, 0])) as Record<VerifyOutcome, number>;
  for await (const instance of instances) {
    const result = await verifyInstance(versions.get(instance.saga), instance);
    byOutcome[result.outcome]++;
    if (options.includeOk || result.outcome !== VerifyOutcome.Ok) results.push(result);
    options.onResult?.(result);
  }
  const ok = [...failingOutcomes].every((o) => byOutcome[o] === 0);
  const total = Object.values(byOutcome).reduce((a, b) => a + b, 0);
  return { results, summary: { instances: total, byOutcome, ok } };
}
