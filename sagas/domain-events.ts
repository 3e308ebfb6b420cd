/**
 * Zod schemas of the `data` of the domain events and commands the example sagas use.
 *
 * The event names and fields follow the "Common Domain Events" of the events package design notes
 * (context, agent, task, collaboration events), with camelCase fields (`taskId` for `task_id`) because the
 * envelope itself is camelCase. The commands and replies the sagas exchange with other services
 * (`agent.assignment.requested`, `agent.assigned`, `agent.released`, `invitation.cancelled`, ...) are added here
 * so producers, consumers and the sagas validate against one definition.
 *
 * Every schema describes JSON-native data (strings, numbers, booleans, arrays, plain objects) because it is
 * stored in saga context, outbox rows and the event log. Times are ISO-8601 strings, durations milliseconds.
 */
import { z } from 'zod';

const id = z.string().min(1).max(200);
const isoTime = z.iso.datetime({ offset: true });

// ---- Context events ---------------------------------------------------------------------------

/** `context.created`: a shared context was created by an agent. */
export const contextCreated = z.object({
  contextId: id,
  agentId: id,
  name: z.string().min(1).max(500),
  description: z.string().max(10_000).default(''),
  createdBy: id,
});

/** `context.updated`: fields of a context changed (`changes` holds the new values of those that did, at least one). */
export const contextUpdated = z.object({
  contextId: id,
  changes: z
    .strictObject({ name: z.string().min(1).max(500).optional(), description: z.string().max(10_000).optional() })
    .refine((c) => c.name !== undefined || c.description !== undefined, 'must change name or description'),
  updatedBy: id,
});

// ---- Agent events -----------------------------------------------------------------------------

/** `agent.registered`: an agent came online with its model and capabilities. */
export const agentRegistered = z.object({
  agentId: id,
  model: z.string().min(1).max(200),
  capabilities: z.array(z.string().min(1).max(200)).max(500).default([]),
  version: z.string().max(100).default(''),
});

/** `agent.disconnected`: an agent went away. */
export const agentDisconnected = z.object({
  agentId: id,
  reason: z.string().max(2000).default(''),
  lastSeen: isoTime.optional(),
});

/** `agent.assignment.requested` (command): find an agent for a task. */
export const agentAssignmentRequested = z.object({
  taskId: id,
  taskType: z.string().min(1).max(200),
  priority: z.number().int(),
  attempt: z.number().int().positive(),
});

/** `agent.assigned` (reply): an agent took a task. */
export const agentAssigned = z.object({ taskId: id, agentId: id });

/** `agent.release.requested` (command, compensation): free the agent assigned to a task. */
export const agentReleaseRequested = z.object({ taskId: id, agentId: id, reason: z.string().max(2000) });

/** `agent.released` (reply): the agent is free again. */
export const agentReleased = z.object({ taskId: id, agentId: id });

/** `agent.release.failed` (reply): the agent could not be released (the saga retries, then fails). */
export const agentReleaseFailed = z.object({ taskId: id, agentId: id, error: z.string().max(2000) });

/** `agent.invited` (command): invite an agent into a collaboration. */
export const agentInvited = z.object({ collaborationId: id, agentId: id, strategy: z.string().max(200) });

/** `agent.joined` (reply): an invited agent joined the collaboration. */
export const agentJoined = z.object({ collaborationId: id, agentId: id });

/** `agent.declined` (reply): an invited agent declined. */
export const agentDeclined = z.object({ collaborationId: id, agentId: id, reason: z.string().max(2000).default('') });

// ---- Task events ------------------------------------------------------------------------------

/**
 * `task.created`: a task needs doing. `attempt` counts re-queues (1 for a new task); `maxAttempts` bounds them;
 * `slaMs` is the time allowed from creation to completion.
 */
export const taskCreated = z.object({
  taskId: id,
  taskType: z.string().min(1).max(200),
  priority: z.number().int().default(0),
  assignedTo: id.optional(),
  attempt: z.number().int().positive().default(1),
  maxAttempts: z.number().int().positive().max(100).default(3),
  slaMs: z.number().int().positive().max(30 * 24 * 3600 * 1000).default(15 * 60 * 1000),
});

/** `task.completed`: the task is done. */
export const taskCompleted = z.object({
  taskId: id,
  result: z.unknown().optional(),
  durationMs: z.number().nonnegative().optional(),
  completedBy: id,
});

/** `task.failed`: the task could not be done. */
export const taskFailed = z.object({ taskId: id, error: z.string().max(10_000), failedBy: id.optional() });

/** `task.requeued` (command): put the task back in the queue for another attempt. */
export const taskRequeued = z.object({
  taskId: id,
  taskType: z.string().min(1).max(200),
  priority: z.number().int(),
  attempt: z.number().int().positive(),
  maxAttempts: z.number().int().positive(),
  reason: z.string().max(2000),
});

// ---- Collaboration events ---------------------------------------------------------------------

/** `collaboration.requested`: agents should work together on something (key: `collaborationId`). */
export const collaborationRequested = z.object({
  collaborationId: id,
  agentIds: z
    .array(id)
    .min(1)
    .max(100)
    .refine((a) => new Set(a).size === a.length, 'agent ids must be unique'),
  strategy: z.string().min(1).max(200).default('round-robin'),
  requestedBy: id.optional(),
  /** Time allowed for every agent to join. */
  joinTimeoutMs: z.number().int().positive().max(7 * 24 * 3600 * 1000).default(10 * 60 * 1000),
});

/** `collaboration.started`: every invited agent joined; the session runs. */
export const collaborationStarted = z.object({
  collaborationId: id,
  participants: z.array(id),
  strategy: z.string().max(200),
});

/** `collaboration.message`: one agent says something to another within a session. */
export const collaborationMessage = z.object({
  collaborationId: id,
  fromAgent: id,
  toAgent: id,
  messageType: z.string().min(1).max(200),
  content: z.unknown().optional(),
});

/** `invitation.cancelled` (command, compensation): withdraw an agent's invitation. */
export const invitationCancelled = z.object({ collaborationId: id, agentId: id, reason: z.string().max(2000) });

// ---- Notifications ----------------------------------------------------------------------------

/** `notification.requested` (command): tell people about something that needs attention. */
export const notificationRequested = z.object({
  topic: z.string().min(1).max(200),
  severity: z.enum(['info', 'warning', 'error']),
  message: z.string().max(10_000),
  subject: z.record(z.string(), z.string()).default({}),
});

/** Every domain event and command above, by type (register them with an `EventTypeRegistry`). */
export const domainEventSchemas = {
  'context.created': contextCreated,
  'context.updated': contextUpdated,
  'agent.registered': agentRegistered,
  'agent.disconnected': agentDisconnected,
  'agent.assignment.requested': agentAssignmentRequested,
  'agent.assigned': agentAssigned,
  'agent.release.requested': agentReleaseRequested,
  'agent.released': agentReleased,
  'agent.release.failed': agentReleaseFailed,
  'agent.invited': agentInvited,
  'agent.joined': agentJoined,
  'agent.declined': agentDeclined,
  'task.created': taskCreated,
  'task.completed': taskCompleted,
  'task.failed': taskFailed,
  'task.requeued': taskRequeued,
  'collaboration.requested': collaborationRequested,
  'collaboration.started': collaborationStarted,
  'collaboration.message': collaborationMessage,
  'invitation.cancelled': invitationCancelled,
  'notification.requested': notificationRequested,
} as const;

/** A domain event or command type known to the example sagas. */
export type DomainEventType = keyof typeof domainEventSchemas;

/** The parsed `data` of a domain event type. */
export type DomainEventData<T extends DomainEventType> = z.output<(typeof domainEventSchemas)[T]>;

/** Builds an emitted command/event of a known type, type-checking its `data` against the schema's output. */
export function command<T extends DomainEventType>(type: T, data: DomainEventData<T>): { type: T; data: DomainEventData<T> } {
  return { type, data };
}
