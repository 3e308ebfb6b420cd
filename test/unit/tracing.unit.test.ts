import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import type { FailOutcome } from '../../src/core/ports/work-queue.js';
import { decide } from '../../src/core/saga/decider.js';
import { SpanName, TraceAttribute } from '../../src/core/tracing/spans.js';
import { defineHandler } from '../../src/core/worker/define-handler.js';
import { WorkerLoop, type WorkSource } from '../../src/core/worker/worker-loop.js';
import { MemorySagaRepository } from '../../src/memory/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { OrderSaga, orderDelays } from '../support/test-saga.js';

/**
 * Tracing without an SDK (nothing recorded, trace context passed on as it came, none invented), the decider's
 * independence from it, and — with the SDK's in-memory exporter — the spans of a memory runtime's steps and
 * timers.
 */

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = `00-${traceId}-00f067aa0ba902b7-01`;

const runtimeOf = () => {
  const clock = new FakeClock('2025-01-01T00:00:00.000Z');
  return { clock, runtime: new SagaRuntime({ repository: new MemorySagaRepository({ clock }), sagas: [OrderSaga], clock, timers: false }) };
};
const placed = (orderId: string, metadata: Record<string, string> = {}) => createEvent({ type: 'order.placed', streamId: orderId, data: { orderId }, metadata });

/** The replies a worker loop stores for one command. */
async function repliesTo(command: EventEnvelope): Promise<EventEnvelope[]> {
  const completed: EventEnvelope[][] = [];
  const pending = [{ command, attempt: 1, leaseToken: 't', leaseExpiresAt: '' }];
  const source: WorkSource = {
    register: async () => {},
    claim: async () => (pending.length > 0 ? pending.splice(0) : new Promise((r) => setTimeout(() => r([]), 10))),
    complete: async (_w, _id, _t, replies) => void completed.push([...replies]),
    fail: async (): Promise<FailOutcome> => 'dead-lettered',
  };
  const handler = defineHandler({ name: 'payments', handles: 'payment.requested', handle: () => ({ type: 'payment.succeeded', data: { orderId: 'o' } }) });
  const loop = new WorkerLoop({ source, handler, by: 'test', defaults: { timeoutMs: 1000 }, waitMs: 10 });
  await loop.start();
  while (completed.length === 0) await new Promise((r) => setTimeout(r, 5));
  await loop.stop();
  return completed[0]!;
}

describe('without a registered tracer provider', () => {
  const exporter = new InMemorySpanExporter();
  // Built but never registered: what an application that installed an SDK and did not start it has.
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });

  it('records nothing and adds no traceparent to what a step emits', async () => {
    const { runtime } = runtimeOf();
    const [outcome] = await runtime.handle(placed('o-1', { correlationId: 'c-1' }));
    expect(outcome!.emitted![0]!.metadata).toEqual({ correlationId: 'c-1', causationId: outcome!.eventId, saga: 'Order', sagaKey: 'o-1' });
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('passes a cause\'s traceparent on to the emitted events unchanged, and a command\'s to the worker\'s replies', async () => {
    const { runtime } = runtimeOf();
    const [outcome] = await runtime.handle(placed('o-2', { traceparent, tracestate: 'vendor=1' }));
    const command = outcome!.emitted![0]!;
    expect(command.metadata).toMatchObject({ traceparent, tracestate: 'vendor=1' });
    const [reply] = await repliesTo(command);
    expect(reply!.metadata).toMatchObject({ traceparent, tracestate: 'vendor=1', causationId: command.id });
    const [untraced] = await repliesTo(createEvent({ type: 'payment.requested', data: {} }));
    expect(untraced!.metadata.traceparent).toBeUndefined();
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('the decider ignores trace context: the same emitted ids and metadata with or without it', () => {
    const cause = placed('o-3');
    const traced = { ...cause, metadata: { traceparent } };
    const now = new Date();
    const [a, b] = [decide({ saga: OrderSaga, key: 'o-3', envelope: cause, now }), decide({ saga: OrderSaga, key: 'o-3', envelope: traced, now })];
    if (a.kind !== 'applied' || b.kind !== 'applied') throw new Error('expected applied');
    expect(b.emitted.map((e) => e.id)).toEqual(a.emitted.map((e) => e.id));
    expect(b.emitted[0]!.metadata.traceparent).toBeUndefined(); // the runtime writes it, after deciding
  });
});

describe('with a registered tracer provider (in-memory exporter)', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeAll(() => {
    // As NodeSDK does: the active span follows async calls (what links a step to its batch).
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    trace.setGlobalTracerProvider(provider);
  });
  afterAll(async () => {
    trace.disable();
    context.disable();
    await provider.shutdown();
  });

  it('a step is a child of its cause\'s traceparent and its emitted events carry the step span', async () => {
    const { runtime } = runtimeOf();
    const [outcome] = await runtime.handle(placed('o-4', { traceparent }));
    const step = exporter.getFinishedSpans().find((s) => s.name === SpanName.Step && s.attributes[TraceAttribute.EventId] === outcome!.eventId)!;
    expect(step.spanContext().traceId).toBe(traceId);
    expect(step.parentSpanContext?.spanId).toBe('00f067aa0ba902b7');
    expect(outcome!.emitted![0]!.metadata.traceparent).toBe(`00-${traceId}-${step.spanContext().spanId}-01`);
  });

  it('a step that fails (poison, dead-lettered) says so; a fired timer is a span of its own starting a trace', async () => {
    const { runtime, clock } = runtimeOf();
    await runtime.handle(placed('o-5'));
    const [poison] = await runtime.handle(createEvent({ type: 'order.noted', streamId: 'o-5', data: { orderId: 'o-5', poison: true } }));
    expect(exporter.getFinishedSpans().find((s) => s.attributes[TraceAttribute.EventId] === poison!.eventId)!.attributes[TraceAttribute.StepResult]).toBe('dead-lettered');
    clock.advance(orderDelays.remind);
    expect(await runtime.fireDueTimers()).toBe(1);
    const fire = exporter.getFinishedSpans().find((s) => s.name === SpanName.TimerFire)!;
    expect(fire.attributes).toMatchObject({ [TraceAttribute.Saga]: 'Order', [TraceAttribute.SagaKey]: 'o-5', [TraceAttribute.TimerId]: 'reminder', [TraceAttribute.StepResult]: 'applied' });
    expect(fire.parentSpanContext).toBeUndefined();
    const reminded = (await runtime.repository.history('Order', 'o-5')).at(-1);
    expect(reminded?.effects.emitted.map((e) => e.type)).toEqual(['customer.reminded']);
  });

  it('steps of several instances committed in one transaction: each in its own trace, all linked to one batch span', async () => {
    const { runtime } = runtimeOf();
    const causes = ['o-6', 'o-7', 'o-8'].map((k, i) => placed(k, { traceparent: `00-${traceId.slice(0, 31)}${i}-00f067aa0ba902b7-01` }));
    const outcomes = await runtime.applyBatch(causes, { stepsPerTransaction: 32 });
    expect(outcomes.map((o) => o.result)).toEqual(['created', 'created', 'created']);
    const batches = exporter.getFinishedSpans().filter((s) => s.name === SpanName.StepBatch);
    expect(batches).toHaveLength(1);
    expect(batches[0]!.attributes[TraceAttribute.Steps]).toBe(3);
    const steps = causes.map((c) => exporter.getFinishedSpans().find((s) => s.name === SpanName.Step && s.attributes[TraceAttribute.EventId] === c.id)!);
    expect(steps.map((s) => s.spanContext().traceId)).toEqual(causes.map((c) => c.metadata.traceparent!.slice(3, 35)));
    for (const s of steps) expect(s.links.map((l) => l.context.spanId)).toEqual([batches[0]!.spanContext().spanId]);
  });
});
