import { z } from 'zod';
import { PayloadTooLargeError, ValidationError, type ValidationIssue } from '../errors.js';
import { newId } from '../ids.js';
import { unstorableIssues } from './storable.js';

/** Default cap on one serialized event: 256 KiB. */
export const DEFAULT_MAX_EVENT_BYTES = 256 * 1024;

const eventTypePattern = /^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)*$/i;

/** Metadata carried by every event: correlation, causation, W3C trace context, free string map. */
export const eventMetadataSchema = z
  .object({
    correlationId: z.string().min(1).max(200).optional(),
    causationId: z.string().min(1).max(200).optional(),
    traceparent: z.string().max(200).optional(),
  })
  .catchall(z.string().max(4096));

/** The event envelope, strict: unknown top-level fields are rejected. */
export const eventEnvelopeSchema = z.strictObject({
  id: z.uuid(),
  type: z.string().min(1).max(200).regex(eventTypePattern, 'must be dot-separated words such as "task.created"'),
  streamId: z.string().min(1).max(200),
  aggregateType: z.string().min(1).max(200),
  version: z.number().int().nonnegative(),
  timestamp: z.iso.datetime({ offset: true }),
  data: z.record(z.string(), z.unknown()),
  metadata: eventMetadataSchema,
});

/** Metadata of an event. */
export type EventMetadata = z.infer<typeof eventMetadataSchema>;

/**
 * A domain event. `version` is the event's position in its stream (1-based once stored;
 * 0 before the store assigns it). `timestamp` is an ISO-8601 string so the envelope is JSON-native.
 */
export interface EventEnvelope<TData extends Record<string, unknown> = Record<string, unknown>> {
  id: string;
  type: string;
  streamId: string;
  aggregateType: string;
  version: number;
  timestamp: string;
  data: TData;
  metadata: EventMetadata;
}

/** What a producer supplies; everything else has a default. */
export interface NewEvent<TData extends Record<string, unknown> = Record<string, unknown>> {
  type: string;
  data: TData;
  id?: string;
  streamId?: string;
  aggregateType?: string;
  version?: number;
  timestamp?: string | Date;
  metadata?: EventMetadata;
}

/**
 * Builds an envelope with defaults: a uuid v7 id, the id as stream when none is given,
 * the type's first segment as aggregate type, the current time.
 *
 * @example
 * const e = createEvent({ type: 'task.created', streamId: 'task-1', data: { title: 'x' } });
 */
export function createEvent<TData extends Record<string, unknown>>(input: NewEvent<TData>, now: Date = new Date()): EventEnvelope<TData> {
  const id = input.id ?? newId();
  const ts = input.timestamp instanceof Date ? input.timestamp.toISOString() : (input.timestamp ?? now.toISOString());
  return {
    id,
    type: input.type,
    streamId: input.streamId ?? id,
    aggregateType: input.aggregateType ?? input.type.split('.')[0] ?? input.type,
    version: input.version ?? 0,
    timestamp: ts,
    data: input.data,
    metadata: input.metadata ?? {},
  };
}

/** Converts zod issues into sagaflow's `{ path, message }` form with dotted paths. */
export function toIssues(error: z.ZodError, prefix = ''): ValidationIssue[] {
  return error.issues.map((i) => ({
    path: [prefix, ...i.path.map(String)].filter((p) => p !== '').join('.'),
    message: i.message,
  }));
}

/** Byte length of a value's JSON form (what is stored and sent). */
export function jsonByteLength(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}

/**
 * Validates an unknown value as an envelope (shape, size, and that Postgres can store every string and
 * number in it). Throws {@link ValidationError} naming the first bad field, or {@link PayloadTooLargeError}.
 */
export function parseEnvelope(value: unknown, options: { maxBytes?: number | undefined } = {}): EventEnvelope {
  // First: what Postgres cannot store (NUL, unpaired surrogates, non-finite numbers) and hostile nesting,
  // before anything recurses into the value.
  const unstorable = unstorableIssues(value);
  if (unstorable.length > 0) throw new ValidationError('event envelope', unstorable);
  const parsed = eventEnvelopeSchema.safeParse(value);
  if (!parsed.success) throw new ValidationError('event envelope', toIssues(parsed.error));
  const limit = options.maxBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const bytes = jsonByteLength(parsed.data);
  if (bytes > limit) throw new PayloadTooLargeError(`event ${parsed.data.id} (${parsed.data.type})`, bytes, limit);
  return parsed.data as EventEnvelope;
}

/**
 * Parses JSON text into an envelope. Bad JSON is a {@link ValidationError} at the root,
 * with the parser's message, never a bare SyntaxError.
 */
export function parseEnvelopeJson(text: string, options: { maxBytes?: number | undefined } = {}): EventEnvelope {
  const limit = options.maxBytes ?? DEFAULT_MAX_EVENT_BYTES;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > limit) throw new PayloadTooLargeError('event', bytes, limit);
  return parseEnvelope(parseEventJson(text), options);
}

/** `JSON.parse` whose failure is a {@link ValidationError} at the root with the parser's message. */
export function parseEventJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ValidationError('event JSON', [{ path: '', message: (err as Error).message }], { cause: err });
  }
}
