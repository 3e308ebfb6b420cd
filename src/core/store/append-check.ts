import { ConcurrencyError, DuplicateEventError, ValidationError, type ExpectedVersion } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { EventTypeRegistry } from '../events/registry.js';
import { parseEnvelope } from '../events/envelope.js';

/** Validates a batch for append: each envelope (shape, size, registry), stream ids, no repeated ids. */
export function validateBatch(streamId: string, events: EventEnvelope[], registry?: EventTypeRegistry, maxBytes?: number): EventEnvelope[] {
  if (!Array.isArray(events) || events.length === 0) {
    throw new ValidationError('append', [{ path: 'events', message: 'must be a non-empty array' }]);
  }
  const seen = new Set<string>();
  return events.map((raw, i) => {
    let e: EventEnvelope;
    try {
      const envelope = parseEnvelope(raw, { maxBytes: maxBytes ?? registry?.maxEventBytes });
      e = registry ? registry.validateData(envelope) : envelope;
    } catch (err) {
      if (err instanceof ValidationError) {
        throw new ValidationError(
          'append',
          err.issues.map((issue) => ({ path: `events[${i}]${issue.path ? '.' + issue.path : ''}`, message: issue.message })),
          { cause: err },
        );
      }
      throw err;
    }
    if (e.streamId !== streamId) {
      throw new ValidationError('append', [{ path: `events[${i}].streamId`, message: `is "${e.streamId}", expected "${streamId}"` }]);
    }
    if (seen.has(e.id)) throw new ValidationError('append', [{ path: `events[${i}].id`, message: 'appears twice in the batch' }]);
    seen.add(e.id);
    // One timestamp form everywhere (what Postgres gives back), so every store returns what it was given.
    return { ...e, timestamp: new Date(e.timestamp).toISOString() };
  });
}

/** Equal as JSON values (key order aside), as a value stored in jsonb and read back compares to the original. */
function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) return a.length === (b as unknown[]).length && a.every((x, i) => jsonEqual(x, (b as unknown[])[i]));
  const [ka, kb] = [Object.keys(a), Object.keys(b)];
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && jsonEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * A retried append whose ids are all stored is a duplicate (idempotent success) only when it carries the
 * same events: same type, stream, data and metadata (the timestamp of a retry may differ). Otherwise it is
 * a {@link DuplicateEventError} naming the first id and field that differ.
 */
export function checkRetriedBatch(streamId: string, stored: readonly EventEnvelope[], given: readonly EventEnvelope[]): void {
  const byId = new Map(stored.map((e) => [e.id, e]));
  for (const g of given) {
    const s = byId.get(g.id);
    if (!s) continue;
    const differs = s.type !== g.type ? 'type' : s.streamId !== g.streamId ? 'streamId' : !jsonEqual(s.data, g.data) ? 'data' : !jsonEqual(s.metadata, g.metadata) ? 'metadata' : undefined;
    if (differs) throw new DuplicateEventError(streamId, [g.id], differs);
  }
}

/** Throws {@link ConcurrencyError} when `actual` does not satisfy `expected`. */
export function checkExpectedVersion(streamId: string, expected: ExpectedVersion, actual: number): void {
  if (expected === 'any') return;
  const want = expected === 'no-stream' ? 0 : expected;
  if (want !== actual) throw new ConcurrencyError(streamId, expected, actual);
}
