import type { EventEnvelope } from '../core/events/envelope.js';
import type { EventBus, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../core/ports/event-bus.js';
import type { SagaflowMetrics } from './metrics.js';

/**
 * Wraps a bus so every publish and handler invocation is counted and timed, whatever the transport.
 * Returns a plain object implementing {@link EventBus}; extra methods of the wrapped bus are not exposed.
 */
export function instrumentBus(bus: EventBus, metrics: SagaflowMetrics): EventBus {
  return {
    async publish(events: EventEnvelope | EventEnvelope[], options?: PublishOptions) {
      await bus.publish(events, options);
      for (const e of Array.isArray(events) ? events : [events]) metrics.eventsPublished.inc({ event_type: e.type });
    },
    subscribe(pattern: string, handler: EventHandler, options?: SubscribeOptions): Promise<Subscription> {
      const handlerName = options?.handlerId ?? options?.group ?? pattern;
      const wrapped: EventHandler = async (event, context) => {
        const end = metrics.processingDuration.startTimer({ event_type: event.type, handler: handlerName });
        try {
          await handler(event, context);
          // A handler that finished after its attempt timed out failed as far as the bus is concerned: the
          // attempt is retried or dead-lettered. (`timedOut` is a flag: no AbortSignal made for every call.)
          metrics.eventsProcessed.inc({ event_type: event.type, handler: handlerName, status: context.timedOut ? 'timeout' : 'success' });
        } catch (err) {
          metrics.eventsProcessed.inc({ event_type: event.type, handler: handlerName, status: 'error' });
          throw err;
        } finally {
          end();
        }
      };
      return bus.subscribe(pattern, wrapped, options);
    },
    start: () => bus.start(),
    stop: (options) => bus.stop(options),
  };
}
