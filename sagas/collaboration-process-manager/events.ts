/**
 * The events CollaborationProcessManager handles (with their data schemas) and how each finds its instance:
 * every one carries `collaborationId`, which is the instance key.
 */
import { correlateAll, type EventEnvelope, type ResumeEvent } from 'sagaflow';
import { agentDeclined, agentJoined, collaborationRequested, type DomainEventData } from '../domain-events.js';

/** Event types handled by CollaborationProcessManager, mapped to the zod schema of their `data`. */
export const collaborationEvents = {
  'collaboration.requested': collaborationRequested,
  'agent.joined': agentJoined,
  'agent.declined': agentDeclined,
} as const;

/** A handled event type. */
export type CollaborationEventType = keyof typeof collaborationEvents;

/** Instance key of each handled event: `data.collaborationId`. */
export const collaborationCorrelate = correlateAll(Object.keys(collaborationEvents) as CollaborationEventType[], 'collaborationId');

/** The xstate event the machine receives for a domain event (see the runtime's event mapping), or an operator's resume. */
export type CollaborationEvent =
  | {
      [T in CollaborationEventType]: { type: T; data: DomainEventData<T>; envelope?: EventEnvelope };
    }[CollaborationEventType]
  | ResumeEvent;
