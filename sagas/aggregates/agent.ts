/** The `Agent` aggregate: an agent registers (again after a disconnect) and disconnects. */
import { defineAggregate, InvariantViolationError, NotFoundError } from 'sagaflow';
import { agentDisconnected, agentRegistered } from '../domain-events.js';

/** An agent as its events leave it. */
export interface AgentState {
  status: 'unknown' | 'online' | 'offline';
  model: string;
  capabilities: string[];
  version: string;
  /** How many times it registered. */
  registrations: number;
  registeredAt: string | null;
  disconnectedAt: string | null;
  disconnectReason: string | null;
}

const initialState: AgentState = {
  status: 'unknown', model: '', capabilities: [], version: '', registrations: 0, registeredAt: null, disconnectedAt: null, disconnectReason: null,
};

/** Input of `register`. */
export interface RegisterAgent {
  model: string;
  capabilities?: string[];
  version?: string;
}

/** Input of `disconnect`. */
export interface DisconnectAgent {
  reason?: string;
  /** When the agent was last heard from (ISO-8601). */
  lastSeen?: string;
}

/** The `Agent` aggregate (stream `agent-<id>`). */
export const Agent = defineAggregate({
  type: 'agent',
  schemaVersion: 1,
  events: { 'agent.registered': agentRegistered, 'agent.disconnected': agentDisconnected },
  initialState,
  evolve(state, event): AgentState {
    switch (event.type) {
      case 'agent.registered': {
        const { model, capabilities, version } = event.data;
        return { ...state, status: 'online', model, capabilities, version, registrations: state.registrations + 1, registeredAt: event.timestamp, disconnectReason: null };
      }
      case 'agent.disconnected':
        return { ...state, status: 'offline', disconnectedAt: event.timestamp, disconnectReason: event.data.reason };
    }
  },
  commands: {
    /** Registers the agent; an online agent must disconnect before it registers again. */
    register(state: AgentState, input: RegisterAgent, { id }) {
      if (state.status === 'online') throw new InvariantViolationError('agent', id, 'is already registered and online; disconnect it first');
      return { type: 'agent.registered', data: { agentId: id, ...input } };
    },
    /** Disconnects an online agent. */
    disconnect(state: AgentState, input: DisconnectAgent, { id }) {
      if (state.status === 'unknown') throw new NotFoundError('agent', id);
      if (state.status === 'offline') throw new InvariantViolationError('agent', id, 'is already disconnected');
      return { type: 'agent.disconnected', data: { agentId: id, ...input } };
    },
  },
});
