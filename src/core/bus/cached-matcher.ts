import { compilePattern } from '../events/pattern.js';

/** Distinct event types remembered per pattern; beyond this, types are matched without caching. */
const MAX_CACHED_TYPES = 4096;

/**
 * A pattern matcher that remembers its answer per event type: the transports match every event
 * against every group's pattern, and a bus sees few distinct types, so this avoids splitting type
 * strings on the hot path.
 */
export function cachedMatcher(pattern: string): (type: string) => boolean {
  const match = compilePattern(pattern);
  const cache = new Map<string, boolean>();
  return (type) => {
    let hit = cache.get(type);
    if (hit === undefined) {
      hit = match(type);
      if (cache.size < MAX_CACHED_TYPES) cache.set(type, hit);
    }
    return hit;
  };
}
