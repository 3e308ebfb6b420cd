/**
 * TaskProcessing saga: assign an agent to a new task, await its completion, compensate on failure or SLA timeout.
 * See README.md (states, events, compensations, diagram).
 */
import { defineSaga } from 'sagaflow';
import { taskProcessingCorrelate, taskProcessingEvents } from './events.js';
import { taskProcessingMachine } from './machine.js';

export { taskProcessingMachine, type TaskProcessingContext, COMPENSATION_MAX_ATTEMPTS, COMPENSATION_RETRY_MS } from './machine.js';
export { taskProcessingEvents, taskProcessingCorrelate, type TaskProcessingEvent, type TaskProcessingEventType } from './events.js';

/** The TaskProcessing saga definition (instance key: `taskId`). */
export const TaskProcessing = defineSaga({
  name: 'TaskProcessing',
  version: 1,
  machine: taskProcessingMachine,
  events: taskProcessingEvents,
  correlate: taskProcessingCorrelate,
  startedBy: ['task.created'],
  // Replies for a task this saga never saw (or already removed) are kept for an operator, not lost.
  onMissing: 'dead-letter',
});
