/** The example sagas shipped with sagaflow, and the domain event schemas they share. */
import { CollaborationProcessManager } from './collaboration-process-manager/index.js';
import { TaskProcessing } from './task-processing/index.js';

export { TaskProcessing } from './task-processing/index.js';
export { CollaborationProcessManager } from './collaboration-process-manager/index.js';
export * from './domain-events.js';
export { taskStatusProjection, exampleProjections } from './task-status-projection.js';

/** Every example saga, e.g. to register them all with a runtime. */
export const exampleSagas = [TaskProcessing, CollaborationProcessManager] as const;
export { Context, Agent, Collaboration, exampleAggregates } from './aggregates/index.js';
export type { ContextState, AgentState, CollaborationState } from './aggregates/index.js';
