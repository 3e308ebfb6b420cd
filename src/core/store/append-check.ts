import { ConcurrencyError, ValidationError, type ExpectedVersion } from '../errors.js';
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

/** Throws {@link ConcurrencyError} when `actual` does not satisfy `expected`. */
export function checkExpectedVersion(streamId: string, expected: ExpectedVersion, actual: number): void {
  if (expected === 'any') return;
  const want = expected === 'no-stream' ? 0 : expected;
  if (want !== actual) throw new ConcurrencyError(streamId, expected, actual);
}
