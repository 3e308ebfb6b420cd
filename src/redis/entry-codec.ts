import { createEvent, DEFAULT_MAX_EVENT_BYTES, eventEnvelopeSchema, parseEnvelope, parseEventJson, toIssues, type EventEnvelope } from '../core/events/envelope.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import { PayloadTooLargeError, ValidationError } from '../core/errors.js';

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

/**
 * Re-serialising parsed JSON can grow it (`1e20` → `100000000000000000000`) by at most ~5.25×; strings
 * never grow. Below `limit / 6` bytes of text the envelope's serialized size cannot exceed the limit.
 */
const MAX_JSON_GROWTH = 6;

/**
 * Decodes and validates an entry (JSON, envelope shape and size, registered type and data when a
 * registry is given). Same checks and errors as `parseEnvelopeJson`, minus its second serialization
 * to measure the size when the text is too small for that to matter (the consumer's hot path).
 */
export function decodeEntry(fields: string[], options: { registry?: EventTypeRegistry | undefined; maxEventBytes?: number | undefined }): DecodedEntry {
  let raw: string | undefined;
  let key: string | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === EntryField.Event) raw = fields[i + 1];
    else if (fields[i] === EntryField.Key) key = fields[i + 1];
  }
  if (raw === undefined) {
    return { ok: false, error: new ValidationError('stream entry', [{ path: EntryField.Event, message: 'missing event field' }]), raw: JSON.stringify(fields).slice(0, 4096) };
  }
  try {
    let event = parseEntryJson(raw, options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES);
    if (options.registry) event = options.registry.validateData(event);
    return { ok: true, event, key: key ?? event.streamId };
  } catch (error) {
    return { ok: false, error, raw: raw.slice(0, 4096) };
  }
}

function parseEntryJson(text: string, limit: number): EventEnvelope {
  // UTF-8 bytes ≤ 3 × UTF-16 length, and the envelope re-serialized ≤ MAX_JSON_GROWTH × the text.
  const small = text.length * 3 * MAX_JSON_GROWTH <= limit;
  if (!small) {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > limit) throw new PayloadTooLargeError('event', bytes, limit);
  }
  const value = parseEventJson(text);
  if (!small) return parseEnvelope(value, { maxBytes: limit });
  if (plainlyValid(value)) return value;
  const parsed = eventEnvelopeSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError('event envelope', toIssues(parsed.error));
  return parsed.data as EventEnvelope;
}

const envelopeKeys = new Set(['id', 'type', 'streamId', 'aggregateType', 'version', 'timestamp', 'data', 'metadata']);
const knownMetadata = new Set(['correlationId', 'causationId', 'traceparent']);
/** Same as the schema's type pattern (envelope.ts). */
const eventTypePattern = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/i;
const zodPattern = (schema: unknown): RegExp | undefined => (schema as { _zod?: { pattern?: RegExp } } | undefined)?._zod?.pattern;
const uuidPattern = zodPattern(eventEnvelopeSchema.shape.id);
const timestampPattern = zodPattern(eventEnvelopeSchema.shape.timestamp);
/** The fast check is used only while the schema has exactly the fields it knows and exposes its format patterns. */
const fastCheck =
  uuidPattern !== undefined &&
  timestampPattern !== undefined &&
  Object.keys(eventEnvelopeSchema.shape).length === envelopeKeys.size &&
  Object.keys(eventEnvelopeSchema.shape).every((k) => envelopeKeys.has(k));

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
const isText = (v: unknown, min: number, max: number): v is string => typeof v === 'string' && v.length >= min && v.length <= max;

/**
 * A conservative, allocation-free pre-check of `eventEnvelopeSchema` for freshly parsed JSON: true
 * only when the schema would accept the value unchanged (same fields, lengths, formats — the uuid and
 * timestamp patterns are the schema's own). Anything else, valid or not, goes through zod, which then
 * decides and produces the error. Keep in step with `eventEnvelopeSchema` in core/events/envelope.ts.
 */
function plainlyValid(v: unknown): v is EventEnvelope {
  if (!fastCheck || !isRecord(v)) return false;
  let n = 0;
  for (const k in v) {
    if (!envelopeKeys.has(k)) return false;
    n++;
  }
  if (n !== envelopeKeys.size) return false;
  const { id, type, streamId, aggregateType, version, timestamp, data, metadata } = v;
  if (!(typeof id === 'string' && uuidPattern!.test(id))) return false;
  if (!(isText(type, 1, 200) && eventTypePattern.test(type))) return false;
  if (!isText(streamId, 1, 200) || !isText(aggregateType, 1, 200)) return false;
  if (!(typeof version === 'number' && Number.isSafeInteger(version) && version >= 0)) return false;
  if (!(typeof timestamp === 'string' && timestampPattern!.test(timestamp))) return false;
  if (!isRecord(data) || !isRecord(metadata)) return false;
  for (const k in metadata) {
    const m = metadata[k];
    if (knownMetadata.has(k) ? !isText(m, k === 'traceparent' ? 0 : 1, 200) : !isText(m, 0, 4096)) return false;
  }
  return true;
}

/** A stand-in envelope for dead-lettering an entry that is not a valid event: the raw text is kept in `data.raw`. */
export function malformedStandIn(entryId: string, stream: string, raw: string, now: Date): EventEnvelope {
  return createEvent(
    { type: 'sagaflow.malformed-entry', streamId: `redis:${stream}`, aggregateType: 'sagaflow', data: { entryId, stream, raw } },
    now,
  );
}
