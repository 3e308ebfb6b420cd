import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';
import type { StoredEvent } from '../../src/core/ports/event-store.js';
import { SpanName, TraceAttribute } from '../../src/core/tracing/spans.js';
import { defineHandler } from '../../src/core/worker/define-handler.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { createWorker } from '../../src/worker/client.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon } from '../support/test-daemon.js';
import { waitFor } from '../support/wait-for.js';
import { OrderSaga } from '../support/test-saga.js';

/**
 * One trace follows an event on a real daemon (PGlite and Postgres), with the SDK's in-memory exporter
 * registered as a user's NodeSDK would: the publish span, the step that applies the event, the command it
 * emits, the worker's handler span (in process, and remote over the HTTP API), its reply and the next step
 * are one trace, each a child of the one before, and the `traceparent` in the stored events says so.
 */

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  trace.disable();
  context.disable();
  await provider.shutdown();
});

const payments = defineHandler({
  name: 'payments',
  handles: 'payment.requested',
  // Orders `r-*` wait for a payment.failed the test publishes: no reply for them.
  handle: (command) => (String(command.data.orderId).startsWith('r-') ? undefined : { type: 'payment.succeeded', data: { orderId: String(command.data.orderId) } }),
});
const stock = defineHandler({
  name: 'stock',
  handles: 'stock.release-requested',
  handle: (command) => ({ type: 'stock.released', data: { orderId: String(command.data.orderId) } }),
});


/** `00-<trace id>-<span id>-<flags>` → its parts. */
const parts = (traceparent: string | undefined) => {
  const [, traceId, spanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/.exec(traceparent ?? '') ?? [];
  return { traceId, spanId };
};

/** The finished span `name` about event `eventId`. */
const spanOf = (name: string, eventId: string) =>
  waitFor(`span ${name} of ${eventId}`, async () => exporter.getFinishedSpans().find((s) => s.name === name && s.attributes[TraceAttribute.EventId] === eventId));

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

function tracingSuite(store: 'pglite' | 'postgres') {
  let daemon: Daemon;
  let token: string;
  let dispose: () => Promise<void>;
  const stored = async (type: string, key: string): Promise<StoredEvent> =>
    waitFor(`a stored ${type} of ${key}`, async () => (await daemon.engine.store.query({ types: [type], streamIds: [key] }))[0]);
  const reached = (key: string, state: string, timeoutMs?: number) =>
    waitFor(`Order ${key} in ${state}`, async () => (await daemon.engine.operator.showSaga('Order', key).catch(() => undefined))?.instance.state === state, timeoutMs);

  beforeAll(async () => {
    ({ daemon, token, dispose } = await openTestDaemon(store, { name: 'tracing', sagas: [OrderSaga], handlers: [payments] }));
  }, 120_000); // PGlite compiles its WASM on start: slow on a loaded machine
  afterAll(() => dispose?.());

  it('publish → step → command → handler → reply → next step: one trace, each span the child of the one before', async () => {
    const key = `t-${newId()}`;
    const { id } = await daemon.engine.operator.publish({ type: 'order.placed', data: { orderId: key }, streamId: key });
    await reached(key, 'paid');

    const placed = await stored('order.placed', key);
    const command = await stored('payment.requested', key);
    const reply = await stored('payment.succeeded', key);
    const confirmed = await stored('order.confirmed', key);

    const publish = await spanOf(SpanName.Publish, id);
    const step1 = await spanOf(SpanName.Step, placed.id);
    const handle = await spanOf(SpanName.Handle, command.id);
    const step2 = await spanOf(SpanName.Step, reply.id);
    const traceId = publish.spanContext().traceId;

    // The spans: a chain, one trace.
    expect(parentOf(publish)).toBeUndefined();
    expect(parentOf(step1)).toBe(publish.spanContext().spanId);
    expect(parentOf(handle)).toBe(step1.spanContext().spanId);
    expect(parentOf(step2)).toBe(handle.spanContext().spanId);
    for (const s of [step1, handle, step2]) expect(s.spanContext().traceId).toBe(traceId);

    // The stored events: each carries the span that produced it.
    expect(parts(placed.metadata.traceparent)).toEqual({ traceId, spanId: publish.spanContext().spanId });
    expect(parts(command.metadata.traceparent)).toEqual({ traceId, spanId: step1.spanContext().spanId });
    expect(parts(reply.metadata.traceparent)).toEqual({ traceId, spanId: handle.spanContext().spanId });
    expect(parts(confirmed.metadata.traceparent)).toEqual({ traceId, spanId: step2.spanContext().spanId });

    // Attributes, and the saga reader's page span linking to the published event's trace.
    expect(step1.attributes).toMatchObject({ [TraceAttribute.Saga]: 'Order', [TraceAttribute.SagaKey]: key, [TraceAttribute.EventType]: 'order.placed', [TraceAttribute.StepResult]: 'created' });
    expect(step2.attributes[TraceAttribute.StepResult]).toBe('applied');
    expect(handle.attributes).toMatchObject({ [TraceAttribute.Worker]: 'payments', [TraceAttribute.Attempt]: 1 });
    const page = await waitFor('the saga reader page of the event', async () =>
      exporter.getFinishedSpans().find((s) => s.name === SpanName.RelayDeliver && s.attributes[TraceAttribute.Relay] === 'sagas' && s.links.some((l) => l.context.spanId === publish.spanContext().spanId)));
    expect(step1.links.map((l) => l.context.spanId)).toContain(page.spanContext().spanId);
  });

  it('a trace id published with an event reaches the emitted command and a remote worker\'s reply', async () => {
    const worker = createWorker({ url: daemon.url, token, handlers: [stock], waitMs: 2000 });
    await worker.start();
    try {
      const key = `r-${newId()}`;
      await daemon.engine.operator.publish({ type: 'order.placed', data: { orderId: key }, streamId: key });
      await stored('payment.requested', key);
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      const traceparent = `00-${traceId}-b7ad6b7169203331-01`;
      const { id } = await daemon.engine.operator.publish({ type: 'payment.failed', data: { orderId: key }, streamId: key, metadata: { traceparent } });
      await reached(key, 'compensated', 30_000);

      const failed = await stored('payment.failed', key);
      const command = await stored('stock.release-requested', key);
      const reply = await stored('stock.released', key);
      expect(failed.id).toBe(id);
      expect(failed.metadata.traceparent).toBe(traceparent); // given: kept as it was
      expect(parts(command.metadata.traceparent).traceId).toBe(traceId);
      expect(parts(reply.metadata.traceparent).traceId).toBe(traceId);

      const publish = await spanOf(SpanName.Publish, id);
      const step = await spanOf(SpanName.Step, failed.id);
      const handle = await spanOf(SpanName.Handle, command.id);
      expect(parentOf(publish)).toBe('b7ad6b7169203331');
      expect(parentOf(step)).toBe('b7ad6b7169203331');
      expect(parentOf(handle)).toBe(step.spanContext().spanId);
      expect(parts(reply.metadata.traceparent).spanId).toBe(handle.spanContext().spanId);
      expect(reply.metadata.worker).toBe('stock');
    } finally {
      await worker.stop({ drainTimeoutMs: 1000 });
    }
  }, 60_000);
}

describe('tracing on a daemon (PGlite)', () => tracingSuite('pglite'));
describe.runIf(hasPostgres())('tracing on a daemon (Postgres)', () => tracingSuite('postgres'));
