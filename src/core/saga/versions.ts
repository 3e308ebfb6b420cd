import { SagaDefinitionError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { z } from 'zod';
import type { SagaDefinition } from './define-saga.js';

/**
 * Several versions of one saga, loaded side by side (docs/adr/0012-saga-versions.md). A sagas module exports
 * each version's `defineSaga` result; `combineVersions` turns them into one definition per saga name: the
 * newest version, whose routing fields cover every loaded version, with `versions` holding each version's
 * own definition. The runtime routes and correlates with the combined definition and applies each event
 * with the definition of the version the instance stores (`definitionFor`); new instances start on the
 * newest.
 *
 * Routing rule: an event type reaches the saga when any loaded version declares it; its instance key comes
 * from the newest version that declares the type (so a version must keep the correlation of a type it
 * shares with older running versions: the key is the instance's identity across versions); only the
 * newest version's `startedBy` creates instances. An event for an instance of an older version is validated
 * and applied by that version's definition, and ignored (recorded) when that version does not handle it.
 */

/** Every version of `saga` this definition carries, oldest first (just itself for a plain definition). */
export function versionsOf(saga: SagaDefinition): SagaDefinition[] {
  return saga.versions ? [...saga.versions.values()].sort((a, b) => a.version - b.version) : [saga];
}

/** The definition of `version` of this saga, or undefined when that version is not loaded. */
export function definitionFor(saga: SagaDefinition, version: number): SagaDefinition | undefined {
  if (saga.versions) return saga.versions.get(version);
  return saga.version === version ? saga : undefined;
}

/** The loaded version numbers of `saga`, ascending. */
export function loadedVersions(saga: SagaDefinition): number[] {
  return versionsOf(saga).map((s) => s.version);
}

/** Versions `saga` (the newest) declares a migration from, ascending: what `sagas migrate --from` accepts. */
export function migrationSources(saga: SagaDefinition): number[] {
  return Object.keys(saga.migrateFrom ?? {}).map(Number).sort((a, b) => a - b);
}

function merged<T>(defs: readonly SagaDefinition[], pick: (d: SagaDefinition) => Record<string, T>): Record<string, T> {
  // Oldest first, so a newer version's entry for a type replaces an older one's.
  return Object.assign({}, ...defs.map(pick)) as Record<string, T>;
}

function combineOne(defs: readonly SagaDefinition[]): SagaDefinition {
  if (defs.length === 1) return defs[0]!;
  const sorted = [...defs].sort((a, b) => a.version - b.version);
  const newest = sorted.at(-1)!;
  return Object.freeze({
    ...newest,
    events: merged<z.ZodType>(sorted, (d) => d.events),
    correlate: merged<(e: EventEnvelope) => string>(sorted, (d) => d.correlate),
    eventTypes: new Set(sorted.flatMap((d) => [...d.eventTypes])),
    internalEvents: new Set(sorted.flatMap((d) => [...d.internalEvents])),
    versions: new Map(sorted.map((d) => [d.version, d])),
  });
}

/**
 * Groups definitions by saga name into one definition per saga (the newest version, carrying all of them;
 * see the module doc), in the order the names first appear. A definition passed twice counts once;
 * two different definitions with one name and version are a {@link SagaDefinitionError}. Idempotent:
 * combined definitions may be passed again.
 */
export function combineVersions(definitions: readonly SagaDefinition[]): SagaDefinition[] {
  const byName = new Map<string, Map<number, SagaDefinition>>();
  for (const def of definitions) {
    let versions = byName.get(def.name);
    if (!versions) byName.set(def.name, (versions = new Map()));
    for (const v of versionsOf(def)) {
      const seen = versions.get(v.version);
      if (seen && seen !== v) {
        throw new SagaDefinitionError(v.name, `version ${v.version} is defined twice; give the new definition the next version number`, { details: { version: v.version } });
      }
      versions.set(v.version, v);
    }
  }
  return [...byName.values()].map((versions) => combineOne([...versions.values()]));
}
