import { context as contextApi, defaultTextMapGetter, defaultTextMapSetter, trace, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { EventEnvelope, EventMetadata } from '../events/envelope.js';

/**
 * W3C trace context in event metadata: `traceparent` (and `tracestate` when there is one), whatever
 * propagators the application registered for its HTTP calls. A metadata record is the carrier.
 */
const w3c = new W3CTraceContextPropagator();

/** The trace-context fields of metadata. */
export interface TraceMetadata {
  traceparent?: string;
  tracestate?: string;
}

/**
 * The context an event's `traceparent` continues: `parent` (default: the active context) with the event's
 * span context as remote parent; `parent` unchanged when the metadata has none or a malformed one.
 */
export function traceContextOf(metadata: EventMetadata, parent: Context = contextApi.active()): Context {
  if (metadata.traceparent === undefined) return parent;
  return w3c.extract(parent, metadata, defaultTextMapGetter);
}

/** The W3C fields of `ctx`'s span; `{}` when it has no valid span context. */
export function traceMetadataOf(ctx: Context): TraceMetadata {
  const carrier: TraceMetadata = {};
  const span = trace.getSpanContext(ctx);
  if (span !== undefined && trace.isSpanContextValid(span)) w3c.inject(ctx, carrier, defaultTextMapSetter);
  return carrier;
}

/**
 * `event` with `trace` written into its metadata (a new envelope; the input is not changed). The same
 * object when `trace` is empty, so an event outside any trace keeps its metadata as it was.
 */
export function withTraceMetadata<T extends EventEnvelope>(event: T, trace: TraceMetadata): T {
  if (trace.traceparent === undefined) return event;
  const { tracestate: _dropped, ...metadata } = event.metadata;
  return { ...event, metadata: { ...metadata, ...trace } };
}
