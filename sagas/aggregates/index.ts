/** The example event-sourced aggregates: every design-notes domain event that no saga handles has its home here. */
import { Agent } from './agent.js';
import { Collaboration } from './collaboration.js';
import { Context } from './context.js';

export { Context, type ContextState, type CreateContext, type UpdateContext } from './context.js';
export { Agent, type AgentState, type RegisterAgent, type DisconnectAgent } from './agent.js';
export { Collaboration, type CollaborationState, type StartCollaboration, type PostMessage } from './collaboration.js';

/** Every example aggregate (the daemon registers their event types when the sagas module exports them). */
export const exampleAggregates = [Context, Agent, Collaboration] as const;
