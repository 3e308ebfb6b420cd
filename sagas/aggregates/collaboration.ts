/**
 * The `Collaboration` aggregate: a session that starts with its participants and carries their messages
 * (`collaboration.started`, `collaboration.message`).
 */
import { defineAggregate, InvariantViolationError, NotFoundError } from 'sagaflow';
import { collaborationMessage, collaborationStarted } from '../domain-events.js';

/** A collaboration session as its events leave it. */
export interface CollaborationState {
  status: 'none' | 'started';
  participants: string[];
  strategy: string;
  messages: number;
  lastMessageAt: string | null;
}

const initialState: CollaborationState = { status: 'none', participants: [], strategy: '', messages: 0, lastMessageAt: null };

/** Input of `start`. */
export interface StartCollaboration {
  participants: string[];
  strategy: string;
}

/** Input of `post`: one participant says something to another. */
export interface PostMessage {
  fromAgent: string;
  toAgent: string;
  messageType: string;
  content?: unknown;
}

/** The `Collaboration` aggregate (stream `collaboration-<id>`). */
export const Collaboration = defineAggregate({
  type: 'collaboration',
  schemaVersion: 1,
  events: { 'collaboration.started': collaborationStarted, 'collaboration.message': collaborationMessage },
  initialState,
  evolve(state, event): CollaborationState {
    switch (event.type) {
      case 'collaboration.started':
        return { ...state, status: 'started', participants: event.data.participants, strategy: event.data.strategy };
      case 'collaboration.message':
        return { ...state, messages: state.messages + 1, lastMessageAt: event.timestamp };
    }
  },
  commands: {
    /** Starts the session once. */
    start(state: CollaborationState, input: StartCollaboration, { id }) {
      if (state.status !== 'none') throw new InvariantViolationError('collaboration', id, 'has already started');
      return { type: 'collaboration.started', data: { collaborationId: id, ...input } };
    },
    /** Posts a message between two participants of a started session. */
    post(state: CollaborationState, input: PostMessage, { id }) {
      if (state.status === 'none') throw new NotFoundError('collaboration', id);
      for (const agent of [input.fromAgent, input.toAgent]) {
        if (!state.participants.includes(agent)) throw new InvariantViolationError('collaboration', id, `agent "${agent}" is not a participant`, { agent });
      }
      return { type: 'collaboration.message', data: { collaborationId: id, ...input } };
    },
  },
});
