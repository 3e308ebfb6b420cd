import { createEvent, parseEnvelopeJson, type EventEnvelope } from '../core/events/envelope.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import { ValidationError } from '../core/errors.js';

/** Field names of a stream entry: `e` the envelope JSON, `k` the ordering key. */
export const EntryField = { Event: 'e', Key: 'k' } as const;

/** Stream entry fields for one event. */
export function encodeEntry(event: EventEnvelope, orderingKey: string): string[] {
  return [EntryField.Event, JSON.stringify(event), EntryField.Key, orderingKey];
}

/** A decoded entry, or why it could not be decoded. */
export type DecodedEntry =
  | { ok: true; event: EventEnvelope; key: string }
  | { ok: false; error: unknown; raw: string };

/** Decodes and validates an entry (JSON, envelope shape and size, registered type and data when a registry is given). */
export function decodeEntry(fields: string[], options: { registry?: EventTypeRegistry | undefined; maxEventBytes?: number | undefined }): DecodedEntry {
  const map = new Map<string, string>();
  for (let i = 0; i + 1 < fields.length; i += 2) map.set(fields[i]!, fields[i + 1]!);
  const raw = map.get(EntryField.Event);
  if (raw === undefined) {
    return { ok: false, error: new ValidationError('stream entry', [{ path: EntryField.Event, message: 'missing event field' }]), raw: JSON.stringify(fields).slice(0, 4096) };
  }
  try {
    const limit = options.maxEventBytes === undefined ? {} : { maxBytes: options.maxEventBytes };
    let event = parseEnvelopeJson(raw, limit);
    if (options.registry) event = options.registry.validateData(event);
    return { ok: true, event, key: map.get(EntryField.Key) ?? event.streamId };
  } catch (error) {
    return { ok: false, error, raw: raw.slice(0, 4096) };
  }
}

/** A stand-in envelope for dead-lettering an entry that is not a valid event: the raw text is kept in `data.raw`. */
export function malformedStandIn(entryId: string, stream: string, raw: string, now: Date): EventEnvelope {
  return createEvent(
    { type: 'sagaflow.malformed-entry', streamId: `redis:${stream}`, aggregateType: 'sagaflow', data: { entryId, stream, raw } },
    now,
  );
}
