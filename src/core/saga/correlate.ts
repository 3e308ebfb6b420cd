import { ValidationError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';

/**
 * A correlate function that reads the instance key from a string field of the event's `data`.
 * A missing or empty field is a {@link ValidationError} naming the field (the event is dead-lettered),
 * never a key such as `"undefined"`.
 */
export function keyFromData(field: string): (event: EventEnvelope) => string {
  return (event) => {
    const value = event.data[field];
    if (typeof value !== 'string' || value.length === 0) {
      throw new ValidationError(`correlation of ${event.type}`, [{ path: `data.${field}`, message: 'must be a non-empty string' }]);
    }
    return value;
  };
}

/** The same correlate function for each of `types`. */
export function correlateAll<T extends string>(types: readonly T[], field: string): Record<T, (event: EventEnvelope) => string> {
  const fn = keyFromData(field);
  return Object.fromEntries(types.map((t) => [t, fn])) as Record<T, (event: EventEnvelope) => string>;
}
