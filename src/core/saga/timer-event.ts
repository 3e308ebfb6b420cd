import type { EventEnvelope } from '../events/envelope.js';
import type { TimerEntry } from '../ports/saga-store.js';
import { timerEventId } from './decider.js';

/**
 * The envelope recorded (inbox, history, dead letters) when a timer fires. Its id is derived from
 * saga, key, timer id and due time, so firing the same timer twice is deduplicated by the inbox.
 */
export function timerEnvelope(timer: TimerEntry): EventEnvelope {
  const { type, ...rest } = timer.event;
  return {
    id: timerEventId(timer.saga, timer.key, timer.id, timer.dueAt),
    type,
    streamId: timer.key,
    aggregateType: 'saga-timer',
    version: 0,
    timestamp: timer.dueAt,
    data: { timerId: timer.id, ...rest },
    metadata: { correlationId: `${timer.saga}:${timer.key}`, saga: timer.saga, sagaKey: timer.key, timerId: timer.id },
  };
}
