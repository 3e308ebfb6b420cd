/**
 * The events TaskProcessing handles (with their data schemas) and how each finds its instance:
 * every one carries `taskId`, which is the instance key.
 */
import { correlateAll, type EventEnvelope } from 'sagaflow';
import { agentAssigned, agentReleased, agentReleaseFailed, taskCompleted, taskCreated, taskFailed, type DomainEventData } from '../domain-events.js';

/** Event types handled by TaskProcessing, mapped to the zod schema of their `data`. */
export const taskProcessingEvents = {
  'task.created': taskCreated,
  'agent.assigned': agentAssigned,
  'task.completed': taskCompleted,
  'task.failed': taskFailed,
  'agent.released': agentReleased,
  'agent.release.failed': agentReleaseFailed,
} as const;

/** A handled event type. */
export type TaskProcessingEventType = keyof typeof taskProcessingEvents;

/** Instance key of each handled event: `data.taskId`. */
export const taskProcessingCorrelate = correlateAll(Object.keys(taskProcessingEvents) as TaskProcessingEventType[], 'taskId');

/** The xstate event the machine receives for a domain event (see the runtime's event mapping). */
export type TaskProcessingEvent = {
  [T in TaskProcessingEventType]: { type: T; data: DomainEventData<T>; envelope?: EventEnvelope };
}[TaskProcessingEventType];
