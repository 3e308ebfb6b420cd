import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import { createMemoryBus } from '../../src/memory/event-bus.js';
import type { EventBus, EventHandler } from '../../src/core/ports/event-bus.js';
import { createLogger } from '../../src/observability/logger.js';
import { instrumentBus } from '../../src/observability/instrument-bus.js';
import { createMetrics } from '../../src/observability/metrics.js';
import pino from 'pino';

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let buf = '';
  stream.on('data', (d: Buffer) => (buf += d.toString()));
  return { stream, text: () => buf };
}

describe('logger', () => {
  it('writes JSON lines off a terminal and redacts secrets', () => {
    const out = capture();
    const logger = createLogger({ destination: out.stream, isTTY: false });
    logger.info({ token: 'abc', config: { database: { url: 'postgres://u:pw@h/db' }, http: { token: 't' } }, req: { headers: { authorization: 'Bearer x' } }, safe: 1 }, 'hello');
    const line = JSON.parse(out.text().trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'hello', token: '***', safe: 1, config: { database: { url: '***' }, http: { token: '***' } }, req: { headers: { authorization: '***' } } });
    expect(out.text()).not.toContain('pw@');
  });

  it('is pretty on a terminal (and when asked)', () => {
    const out = capture();
    createLogger({ destination: out.stream, isTTY: true }).info({ token: 'abc' }, 'hello');
    expect(out.text()).toMatch(/INFO.*hello/);
    expect(() => JSON.parse(out.text())).toThrow();
    expect(out.text()).not.toContain('abc');
    const forced = capture();
    createLogger({ destination: forced.stream, isTTY: false, format: 'pretty' }).warn('careful');
    expect(forced.text()).toMatch(/WARN.*careful/);
  });

  it('respects the level', () => {
    const out = capture();
    const logger = createLogger({ destination: out.stream, isTTY: false, level: 'warn' });
    logger.info('no');
    logger.warn('yes');
    expect(out.text()).not.toContain('"no"');
    expect(out.text()).toContain('"yes"');
  });
});

describe('metrics', () => {
  it('counts publishes and handler outcomes of an instrumented bus', async () => {
    const metrics = createMetrics({ processMetrics: false, queueDepths: () => ({ outbox: 7 }) });
    const handlers: EventHandler[] = [];
    const bus: EventBus = {
      publish: async () => {},
      subscribe: async (pattern, handler) => {
        handlers.push(handler);
        return { pattern, group: pattern, unsubscribe: async () => {} };
      },
      start: async () => {},
      stop: async () => {},
    };
    const instrumented = instrumentBus(bus, metrics);
    const event = createEvent({ type: 'task.created', data: {} });
    await instrumented.publish([event, event]);
    let fail = false;
    await instrumented.subscribe('task.*', () => {
      if (fail) throw new Error('boom');
    }, { handlerId: 'h1' });
    const ctx = { attempt: 1, signal: new AbortController().signal, logger: pino({ level: 'silent' }) };
    await handlers[0]!(event, ctx);
    fail = true;
    await expect(handlers[0]!(event, ctx)).rejects.toThrow('boom');
    fail = false;
    // A handler that returns after the bus cut its attempt (timeout) did not succeed.
    await handlers[0]!(event, { ...ctx, timedOut: true });

    const text = await metrics.registry.metrics();
    expect(text).toContain('mcp_events_published_total{event_type="task.created"} 2');
    expect(text).toContain('mcp_events_processed_total{event_type="task.created",handler="h1",status="success"} 1');
    expect(text).toContain('mcp_events_processed_total{event_type="task.created",handler="h1",status="error"} 1');
    expect(text).toContain('mcp_events_processed_total{event_type="task.created",handler="h1",status="timeout"} 1');
    expect(text).toContain('mcp_event_processing_duration_seconds_count{event_type="task.created",handler="h1"} 3');
    expect(text).toContain('mcp_event_queue_depth{queue_name="outbox"} 7');
  });

  it('a handler of a real bus that returns after its attempt timed out is counted as timeout', async () => {
    const metrics = createMetrics({ processMetrics: false });
    const bus = instrumentBus(createMemoryBus(), metrics);
    await bus.subscribe('slow.*', () => new Promise((r) => setTimeout(r, 80)), { handlerId: 'slow', timeoutMs: 20, maxAttempts: 1 });
    await bus.start();
    await bus.publish(createEvent({ type: 'slow.done', data: {} }));
    const deadline = Date.now() + 3000;
    let text = '';
    while (Date.now() < deadline && !text.includes('status="timeout"')) {
      await new Promise((r) => setTimeout(r, 20));
      text = await metrics.registry.metrics();
    }
    await bus.stop();
    expect(text).toContain('mcp_events_processed_total{event_type="slow.done",handler="slow",status="timeout"} 1');
    expect(text).not.toContain('handler="slow",status="success"');
  });

  it('uses a private registry per instance', async () => {
    const a = createMetrics({ processMetrics: false });
    const b = createMetrics({ processMetrics: false });
    a.eventsPublished.inc({ event_type: 'x' });
    expect(await b.registry.metrics()).not.toContain('event_type="x"');
  });
});
