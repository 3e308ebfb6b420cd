/**
 * CollaborationProcessManager: invite agents, start the collaboration when all joined, call it off on a decline
 * or the join timeout. See README.md (states, events, compensations, diagram).
 */
import { defineSaga } from 'sagaflow';
import { collaborationCorrelate, collaborationEvents } from './events.js';
import { collaborationMachine } from './machine.js';

export { collaborationMachine, type CollaborationContext } from './machine.js';
export { collaborationEvents, collaborationCorrelate, type CollaborationEvent, type CollaborationEventType } from './events.js';

/** The CollaborationProcessManager saga definition (instance key: `collaborationId`). */
export const CollaborationProcessManager = defineSaga({
  name: 'CollaborationProcessManager',
  version: 1,
  machine: collaborationMachine,
  events: collaborationEvents,
  correlate: collaborationCorrelate,
  startedBy: ['collaboration.requested'],
  onMissing: 'dead-letter',
});
