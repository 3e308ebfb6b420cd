import {
  context as contextApi, INVALID_SPAN_CONTEXT, ProxyTracer, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link,
  type Span,
} from '@opentelemetry/api';
import type { EventEnvelope, EventMetadata } from '../events/envelope.js';
import { traceContextOf, traceMetadataOf, withTraceMetadata, type TraceMetadata } from './trace-context.js';

/**
 * sagaflow's spans, on `@opentelemetry/api` alone. Without a registered tracer provider (no SDK) nothing is
 * started, no attribute is built, and trace context already in an event's metadata is passed on as it came
 * (a few object reads per step). See docs/observability.md and ADR 0014.
 */

/** The names of sagaflow's spans (low cardinality; what varies is in the attributes). */
export const SpanName = {
  /** An event appended to the log by the API, the CLI or the engine (`operator.publish`, resume). */
  Publish: 'sagaflow.publish',
  /** One event applied to one saga instance (read, decide, write; in the step's transaction). */
  Step: 'sagaflow.saga.step',
  /** A fired timer applied to its instance (the step of a timer). */
  TimerFire: 'sagaflow.timer.fire',
  /** Several instances' steps committed in one transaction; each step's span links to it. */
  StepBatch: 'sagaflow.saga.step-batch',
  /** One attempt of a worker's handler on one command. */
  Handle: 'sagaflow.worker.handle',
  /** A follower of the log delivering one page (bus relay, saga reader, worker feed). */
  RelayDeliver: 'sagaflow.relay.deliver',
} as const;
export type SpanName = (typeof SpanName)[keyof typeof SpanName];

/** The attributes sagaflow puts on its spans. */
export const TraceAttribute = {
  EventId: 'sagaflow.event.id',
  EventType: 'sagaflow.event.type',
  StreamId: 'sagaflow.event.stream',
  Saga: 'sagaflow.saga',
  SagaKey: 'sagaflow.saga.key',
  StepResult: 'sagaflow.step.result',
  TimerId: 'sagaflow.timer.id',
  Steps: 'sagaflow.batch.steps',
  Worker: 'sagaflow.worker',
  Attempt: 'sagaflow.worker.attempt',
  Relay: 'sagaflow.relay',
  Events: 'sagaflow.relay.events',
} as const;

/** The name sagaflow's tracer is obtained under. */
export const TRACER_NAME = 'sagaflow';

/** Links a page span records to its events' traces, at most. */
const MAX_PAGE_LINKS = 128;

/** A started span: its context, its W3C metadata, and how to run code in it and end it. */
export interface TracedSpan {
  readonly span: Span;
  /** The context with this span active. */
  readonly context: Context;
  /** This span's `traceparent`/`tracestate` ({} when it has no valid span context: no trace to continue). */
  readonly trace: TraceMetadata;
  /** Runs `fn` with this span as the active span (what code called inside sees as its parent). */
  run<T>(fn: () => T): T;
  /** Records `error` on the span and marks it failed. */
  fail(error: unknown): void;
  end(): void;
}

/** A span of the registered SDK (recording or not, as its sampler decided). */
class SdkSpan implements TracedSpan {
  readonly context: Context;
  private metadata: TraceMetadata | undefined;

  constructor(readonly span: Span, parent: Context) {
    this.context = trace.setSpan(parent, span);
  }

  get trace(): TraceMetadata {
    return (this.metadata ??= traceMetadataOf(this.context));
  }

  run<T>(fn: () => T): T {
    return contextApi.with(this.context, fn);
  }

  fail(error: unknown): void {
    if (!this.span.isRecording()) return;
    const err = error instanceof Error ? error : new Error(String(error));
    this.span.recordException(err);
    this.span.setStatus({ code: SpanStatusCode.ERROR, message: err.message });
  }

  end(): void {
    this.span.end();
  }
}

const invalidSpan = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** No SDK registered: no span; the trace context of the cause (if any) is handed on verbatim. */
class PassThrough implements TracedSpan {
  readonly span = invalidSpan;
  readonly trace: TraceMetadata;

  constructor(from: EventMetadata | undefined) {
    const parent = from?.traceparent;
    this.trace = parent === undefined ? {} : from?.tracestate === undefined ? { traceparent: parent } : { traceparent: parent, tracestate: from.tracestate };
  }

  get context(): Context {
    return contextApi.active();
  }

  run<T>(fn: () => T): T {
    return fn();
  }

  fail(): void {}

  end(): void {}
}

/**
 * Starts span `name`, continuing the trace in `from` (an event's metadata) when it has one, else the active
 * context; `linkActive` links it to the active span when that is not its parent (the batch or page it runs in).
 */
function startSpan(name: SpanName, kind: SpanKind, from: EventMetadata | undefined, attributes: () => Attributes, linkActive = false): TracedSpan {
  // getTracer each time, not once: a provider registered (or replaced) later is used from then on. The API
  // hands out a ProxyTracer only while no provider is registered.
  const tracer = trace.getTracer(TRACER_NAME);
  if (tracer instanceof ProxyTracer) return new PassThrough(from);
  const parent = from ? traceContextOf(from) : contextApi.active();
  const active = linkActive ? trace.getSpanContext(contextApi.active()) : undefined;
  const link = active !== undefined && active !== trace.getSpanContext(parent) && trace.isSpanContextValid(active);
  const span = tracer.startSpan(name, link ? { kind, links: [{ context: active }] } : { kind }, parent);
  if (span.isRecording()) span.setAttributes(attributes());
  return new SdkSpan(span, parent);
}

/** Runs `fn` in `s`, records a rejection on it, and ends it when `fn` settles. */
async function within<T>(s: TracedSpan, fn: () => Promise<T>): Promise<T> {
  try {
    return await s.run(fn);
  } catch (err) {
    s.fail(err);
    throw err;
  } finally {
    s.end();
  }
}

const eventAttributes = (e: EventEnvelope): Attributes => ({
  [TraceAttribute.EventId]: e.id,
  [TraceAttribute.EventType]: e.type,
  [TraceAttribute.StreamId]: e.streamId,
});

/**
 * Publishes `event` in a `sagaflow.publish` span: a child of the event's own `traceparent` when it has one,
 * else of the active span. An event without `traceparent` gets the publish span's (when there is a trace).
 */
export function tracePublish<T>(event: EventEnvelope, publish: (event: EventEnvelope) => Promise<T>): Promise<T> {
  const given = event.metadata.traceparent !== undefined;
  const s = startSpan(SpanName.Publish, SpanKind.PRODUCER, given ? event.metadata : undefined, () => eventAttributes(event));
  return within(s, () => publish(given ? event : withTraceMetadata(event, s.trace)));
}

/** What a step span describes. */
export interface StepSpanInput {
  saga: { name: string };
  key: string;
  envelope: EventEnvelope;
  timer?: { id: string };
}

/**
 * Runs one saga step in a span (`sagaflow.saga.step`, or `sagaflow.timer.fire` for a timer): a child of the
 * cause event's `traceparent`, linked to the active span (the batch or page it runs in) when that differs.
 * `run` gets the span, whose `trace` the step writes on the events it emits.
 */
export function traceStep<T extends { result: string }>(input: StepSpanInput, run: (span: TracedSpan) => Promise<T>): Promise<T> {
  const { envelope, timer } = input;
  const s = startSpan(
    timer ? SpanName.TimerFire : SpanName.Step,
    timer ? SpanKind.INTERNAL : SpanKind.CONSUMER,
    envelope.metadata,
    () => ({ ...eventAttributes(envelope), [TraceAttribute.Saga]: input.saga.name, [TraceAttribute.SagaKey]: input.key, ...(timer ? { [TraceAttribute.TimerId]: timer.id } : {}) }),
    true,
  );
  return within(s, async () => {
    const outcome = await run(s);
    if (s.span.isRecording()) s.span.setAttribute(TraceAttribute.StepResult, outcome.result);
    return outcome;
  });
}

/** Runs a transaction of `steps` saga steps (many instances at once) in a `sagaflow.saga.step-batch` span. */
export function traceStepBatch<T>(steps: number, run: () => Promise<T>): Promise<T> {
  return within(startSpan(SpanName.StepBatch, SpanKind.INTERNAL, undefined, () => ({ [TraceAttribute.Steps]: steps })), run);
}

/**
 * Starts the span of one handler attempt (`sagaflow.worker.handle`), a child of the command's `traceparent`;
 * the caller runs the handler in it, ends it, and writes its `trace` on the replies.
 */
export function startHandlerSpan(worker: string, command: EventEnvelope, attempt: number): TracedSpan {
  return startSpan(SpanName.Handle, SpanKind.CONSUMER, command.metadata, () => ({
    ...eventAttributes(command),
    [TraceAttribute.Worker]: worker,
    [TraceAttribute.Attempt]: attempt,
  }));
}

/**
 * Delivers a page of the log in a `sagaflow.relay.deliver` span, linked (when recording) to the traces of
 * its events; spans of the work it does (steps, batches) link back to it.
 */
export function traceRelayPage<T>(relay: string, events: readonly EventEnvelope[], deliver: () => Promise<T>): Promise<T> {
  const s = startSpan(SpanName.RelayDeliver, SpanKind.INTERNAL, undefined, () => ({ [TraceAttribute.Relay]: relay, [TraceAttribute.Events]: events.length }));
  if (s.span.isRecording()) {
    const links: Link[] = [];
    for (const e of events) {
      if (links.length >= MAX_PAGE_LINKS) break;
      const linked = e.metadata.traceparent === undefined ? undefined : trace.getSpanContext(traceContextOf(e.metadata, ROOT_CONTEXT));
      if (linked) links.push({ context: linked });
    }
    if (links.length > 0) s.span.addLinks(links);
  }
  return within(s, deliver);
}

/** `event` carrying `span`'s trace context (unchanged when the span has none). */
export function stampTrace<T extends EventEnvelope>(event: T, span: TracedSpan): T {
  return withTraceMetadata(event, span.trace);
}
