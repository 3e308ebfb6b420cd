/**
 * The design notes' `Context` aggregate: a shared context an agent creates, whose name and description change.
 * Commands decide events from the state; `evolve` folds them into it (see docs/sourcing.md).
 */
import { defineAggregate, InvariantViolationError, NotFoundError, ValidationError } from 'sagaflow';
import { contextCreated, contextUpdated } from '../domain-events.js';

/** A context as its events leave it. Times are the events' ISO timestamps. */
export interface ContextState {
  status: 'none' | 'active';
  name: string;
  description: string;
  agentId: string;
  createdBy: string;
  createdAt: string | null;
  updatedAt: string | null;
}

const initialState: ContextState = { status: 'none', name: '', description: '', agentId: '', createdBy: '', createdAt: null, updatedAt: null };

/** Input of `create`. */
export interface CreateContext {
  name: string;
  description?: string;
  agentId: string;
  createdBy: string;
}

/** Input of `update`: the fields to change (at least one) and who changes them. */
export interface UpdateContext {
  name?: string;
  description?: string;
  updatedBy: string;
}

/** The `Context` aggregate (stream `context-<id>`): `create`, then `update` of its name or description. */
export const Context = defineAggregate({
  type: 'context',
  schemaVersion: 1,
  events: { 'context.created': contextCreated, 'context.updated': contextUpdated },
  initialState,
  evolve(state, event): ContextState {
    switch (event.type) {
      case 'context.created': {
        const { name, description, agentId, createdBy } = event.data;
        return { ...state, status: 'active', name, description, agentId, createdBy, createdAt: event.timestamp, updatedAt: event.timestamp };
      }
      case 'context.updated':
        return { ...state, ...event.data.changes, updatedAt: event.timestamp };
    }
  },
  commands: {
    /** Creates the context; it must not exist yet. */
    create(state: ContextState, input: CreateContext, { id }) {
      if (state.status !== 'none') throw new InvariantViolationError('context', id, 'already exists: create it once, then update it');
      return { type: 'context.created', data: { contextId: id, ...input } };
    },
    /** Changes the name and/or description; values equal to the current ones are no change (no event at all when nothing changes). */
    update(state: ContextState, input: UpdateContext, { id }) {
      if (state.status === 'none') throw new NotFoundError('context', id);
      if (input.name === undefined && input.description === undefined) {
        throw new ValidationError('context update', [{ path: 'name', message: 'give name or description (or both) to change' }]);
      }
      const changes = {
        ...(input.name !== undefined && input.name !== state.name ? { name: input.name } : {}),
        ...(input.description !== undefined && input.description !== state.description ? { description: input.description } : {}),
      };
      if (Object.keys(changes).length === 0) return [];
      return { type: 'context.updated', data: { contextId: id, changes, updatedBy: input.updatedBy } };
    },
  },
});
