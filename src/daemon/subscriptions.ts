import type { Logger } from 'pino';
import type { SubscriptionConfig } from '../config/schema.js';
import type { EventBus, EventHandler, Subscription } from '../core/ports/event-bus.js';

/**
 * Built-in handlers `events.subscriptions` can name (design notes layout). Application handlers
 * (`task_processor`, `websocket_broadcast`, ...) are code: register them with `bus.subscribe` in
 * your own composition; a name with no built-in is reported at start and skipped.
 */
export function builtInHandlers(logger: Logger): Record<string, EventHandler> {
  return {
    /** Logs every matching event (id, type, stream; never the data). */
    audit_logger: (event) => {
      logger.info({ eventId: event.id, type: event.type, streamId: event.streamId, correlationId: event.metadata.correlationId }, 'event');
    },
    /** Counts matching events; the bus instrumentation records `mcp_events_processed_total{handler="metrics_collector"}`. */
    metrics_collector: () => {},
  };
}

/** Subscribes the configured built-in handlers; returns the subscriptions. */
export async function subscribeConfigured(bus: EventBus, subscriptions: readonly SubscriptionConfig[], logger: Logger): Promise<Subscription[]> {
  const handlers = builtInHandlers(logger.child({ component: 'audit' }));
  const out: Subscription[] = [];
  for (const sub of subscriptions) {
    for (const name of sub.handlers) {
      const handler = handlers[name];
      if (!handler) {
        logger.warn({ handler: name, eventType: sub.event_type, builtIn: Object.keys(handlers) }, `no built-in handler "${name}"; subscription skipped (register application handlers in code)`);
        continue;
      }
      out.push(await bus.subscribe(sub.event_type, handler, { group: `sub:${name}:${sub.event_type}`, handlerId: name }));
    }
  }
  return out;
}
