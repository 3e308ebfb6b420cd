import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The metrics sagaflow exports at `GET /metrics` (names from the design notes). */
export interface SagaflowMetrics {
  registry: Registry;
  /** Events accepted for publishing, by type. */
  eventsPublished: Counter<'event_type'>;
  /**
   * Handler invocations finished, by type, handler and status: `success`, `error` (threw), `timeout` (finished
   * after its attempt timed out); saga steps: `success` | `error` (dead-lettered).
   */
  eventsProcessed: Counter<'event_type' | 'handler' | 'status'>;
  /** Handler invocation time in seconds. */
  processingDuration: Histogram<'event_type' | 'handler'>;
  /** Events waiting, per queue (e.g. due timers). */
  queueDepth: Gauge<'queue_name'>;
  /** HTTP API requests by route and status code. */
  httpRequests: Counter<'route' | 'status'>;
}

export interface MetricsOptions {
  /** Also collect Node process metrics (heap, event loop lag). @default true */
  processMetrics?: boolean;
  /** Reads queue depths at scrape time, e.g. `{ bus: 12, outbox: 0 }`. */
  queueDepths?: () => Promise<Record<string, number>> | Record<string, number>;
}

function exponentialBuckets(start: number, factor: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start * factor ** i);
}

/**
 * Creates a private prom-client registry with sagaflow's metrics (never the global registry, so
 * several daemons or tests in one process do not collide).
 */
export function createMetrics(options: MetricsOptions = {}): SagaflowMetrics {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  const queueDepths = options.queueDepths;
  return {
    registry,
    eventsPublished: new Counter({
      name: 'mcp_events_published_total',
      help: 'Total number of events published',
      labelNames: ['event_type'],
      registers: [registry],
    }),
    eventsProcessed: new Counter({
      name: 'mcp_events_processed_total',
      help: 'Total number of events processed',
      labelNames: ['event_type', 'handler', 'status'],
      registers: [registry],
    }),
    processingDuration: new Histogram({
      name: 'mcp_event_processing_duration_seconds',
      help: 'Event processing duration',
      labelNames: ['event_type', 'handler'],
      buckets: exponentialBuckets(0.001, 2, 15),
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: 'mcp_event_queue_depth',
      help: 'Current event queue depth',
      labelNames: ['queue_name'],
      registers: [registry],
      async collect() {
        if (!queueDepths) return;
        try {
          for (const [name, depth] of Object.entries(await queueDepths())) this.set({ queue_name: name }, depth);
        } catch {
          // A failing probe (database down) must not break the scrape; the stale value stays.
        }
      },
    }),
    httpRequests: new Counter({
      name: 'sagaflow_http_requests_total',
      help: 'HTTP API requests',
      labelNames: ['route', 'status'],
      registers: [registry],
    }),
  };
}
