import type { AnyMachineSnapshot, StateValue } from 'xstate';
import { SagaMigrationError, type ValidationIssue } from '../errors.js';
import type { SagaStatus } from '../ports/saga-store.js';
import type { SagaDefinition } from './define-saga.js';
import { deriveStatus } from './status.js';

/** The stored part of an instance a migration reads. */
export interface MigratingInstance {
  saga: string;
  key: string;
  definitionVersion: number;
  state: unknown;
  context: Record<string, unknown>;
}

/** An instance as it is after a migration: what is written in place of the old row's values. */
export interface MigratedInstance {
  status: SagaStatus;
  state: unknown;
  context: Record<string, unknown>;
  /** The target machine's persisted snapshot of the migrated state and context. */
  snapshot: unknown;
}

const reason = (err: unknown) => (err instanceof Error ? err.message : String(err));

function issuesOf(error: { issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }> }): ValidationIssue[] {
  return error.issues.map((i) => ({ path: ['context', ...i.path.map(String)].join('.'), message: i.message }));
}

/**
 * Moves one stored instance to version `target.version` through `target.migrateFrom[instance.definitionVersion]`,
 * without writing anything: pure, so `--dry-run` and `sagaflow verify` can run it too. The transform's
 * result must be an object `{ value, context }`; its context must pass `target.context` (when declared) and
 * its state must exist in the target machine (`machine.resolveState`, which fills in the initial children
 * of a compound state). History states (`historyValue`) are not carried over. Throws
 * {@link SagaMigrationError} saying what failed.
 */
export function migrateInstance(target: SagaDefinition, instance: MigratingInstance): MigratedInstance {
  const from = instance.definitionVersion;
  const fail = (problem: string, options: { cause?: unknown; issues?: ValidationIssue[] } = {}) =>
    new SagaMigrationError(target.name, instance.key, from, target.version, problem, options);
  const transform = target.migrateFrom?.[from];
  if (!transform) throw fail(`version ${target.version} declares no migrateFrom[${from}]`);
  let out: { value: StateValue; context: Record<string, unknown> };
  try {
    out = transform({ key: instance.key, value: structuredClone(instance.state) as StateValue, context: structuredClone(instance.context) });
  } catch (err) {
    throw fail(`the transform threw: ${reason(err)}`, { cause: err });
  }
  if (typeof out !== 'object' || out === null || out.value === undefined || typeof out.context !== 'object' || out.context === null) {
    throw fail('the transform must return { value, context }');
  }
  let context = out.context;
  if (target.context) {
    const parsed = target.context.safeParse(context);
    if (!parsed.success) {
      const issues = issuesOf(parsed.error);
      throw fail(`the context does not fit version ${target.version}: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, { issues });
    }
    context = parsed.data as Record<string, unknown>;
  }
  let resolved: AnyMachineSnapshot;
  try {
    // Round-trip through JSON first: what is stored is JSON (a Date would come back a string; trap 12).
    context = JSON.parse(JSON.stringify(context)) as Record<string, unknown>;
    resolved = target.machine.resolveState({ value: out.value, context }) as AnyMachineSnapshot;
  } catch (err) {
    throw fail(`state ${JSON.stringify(out.value)} does not exist in version ${target.version}: ${reason(err)}`, { cause: err });
  }
  return { status: deriveStatus(resolved), state: resolved.value, context, snapshot: target.machine.getPersistedSnapshot(resolved) };
}
