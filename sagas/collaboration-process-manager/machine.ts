/**
 * CollaborationProcessManager: collaboration.requested → invite every agent → all agent.joined →
 * collaboration.started. Any agent.declined or the join timeout compensates: cancel the invitation of every
 * invited agent that joined or is still pending (newest first), then notify. See README.md for the diagram.
 */
import { assign, emit, enqueueActions, setup } from 'xstate';
import {
  compensatingState,
  compensationActions,
  compensationGuards,
  emptyCompensationLog,
  forgetStep,
  recordStep,
  resumableFailedState,
  type CompensationLog,
  type SagaCommand,
} from 'sagaflow';
import { collaborationRequested, command } from '../domain-events.js';
import type { CollaborationEvent } from './events.js';

/** Compensation retry delay (unused while invitation cancellations are fire-and-forget, but required by the state). */
export const COMPENSATION_RETRY_MS = 30_000;

/** CollaborationProcessManager context (JSON-native). */
export interface CollaborationContext {
  collaborationId: string;
  strategy: string;
  joinTimeoutMs: number;
  /** Invited agents, in invitation order. */
  invited: string[];
  /** Agents that joined, in join order (a set: no duplicates). */
  joined: string[];
  /** Agents that declined. */
  declined: string[];
  /** Why the collaboration was called off. */
  failureReason: string | null;
  compensation: CompensationLog;
}

type Ctx = CollaborationContext;
type Ev = CollaborationEvent;
type Of<T extends Ev['type']> = Extract<Ev, { type: T }>;

function agentOf(event: Ev): string {
  return event.type === 'collaboration.requested' || event.type === 'sagaflow.resume' ? '' : event.data.agentId;
}

/** Pending = invited and neither joined nor declined. */
function isPending(context: Ctx, agentId: string): boolean {
  return context.invited.includes(agentId) && !context.joined.includes(agentId) && !context.declined.includes(agentId);
}

/** The CollaborationProcessManager statechart. Pure: it emits commands, never performs I/O. */
export const collaborationMachine = setup({
  types: {
    context: {} as Ctx,
    events: {} as Ev,
    input: {} as { key: string; event?: unknown },
    emitted: {} as SagaCommand,
  },
  delays: {
    /** Time for every invited agent to join; per collaboration (`data.joinTimeoutMs`). */
    joinTimeout: ({ context }) => context.joinTimeoutMs,
    compensationRetry: COMPENSATION_RETRY_MS,
  },
  guards: {
    ...compensationGuards<Ctx, Ev>(),
    isPendingInvitee: ({ context, event }) => isPending(context, agentOf(event)),
    isLastPendingInvitee: ({ context, event }) => {
      const agent = agentOf(event);
      return isPending(context, agent) && context.invited.every((a) => a === agent || context.joined.includes(a));
    },
    isInvitee: ({ context, event }) => context.invited.includes(agentOf(event)),
  },
  actions: {
    ...compensationActions<Ctx, Ev>(),
    acceptRequest: assign(({ context, event }) => {
      const d = collaborationRequested.parse((event as Of<'collaboration.requested'>).data);
      let compensation = context.compensation;
      // Each invitation is a step whose undo is cancelling it (fire-and-forget: no reply to wait for).
      for (const agentId of d.agentIds) {
        compensation = recordStep(compensation, {
          step: `invite:${agentId}`,
          command: command('invitation.cancelled', { collaborationId: d.collaborationId, agentId, reason: 'collaboration called off' }),
        });
      }
      return { collaborationId: d.collaborationId, strategy: d.strategy, joinTimeoutMs: d.joinTimeoutMs, invited: d.agentIds, compensation };
    }),
    inviteAll: enqueueActions(({ context, enqueue }) => {
      for (const agentId of context.invited) {
        enqueue.emit(command('agent.invited', { collaborationId: context.collaborationId, agentId, strategy: context.strategy }));
      }
    }),
    recordJoin: assign({ joined: ({ context, event }) => [...context.joined, agentOf(event)] }),
    recordDecline: assign(({ context, event }) => {
      const agentId = agentOf(event);
      const reason = (event as Of<'agent.declined'>).data.reason;
      return {
        declined: [...context.declined, agentId],
        // A declined invitation needs no cancelling.
        compensation: forgetStep(context.compensation, `invite:${agentId}`),
        failureReason: `agent ${agentId} declined${reason ? `: ${reason}` : ''}`,
      };
    }),
    recordJoinTimeout: assign({
      failureReason: ({ context }) =>
        `join timeout of ${context.joinTimeoutMs} ms; still pending: ${context.invited.filter((a) => isPending(context, a)).join(', ')}`,
    }),
    announceStart: emit(({ context }) =>
      command('collaboration.started', { collaborationId: context.collaborationId, participants: context.joined, strategy: context.strategy }),
    ),
    notifyCalledOff: emit(({ context }) =>
      command('notification.requested', {
        topic: 'collaboration.cancelled',
        severity: 'warning',
        message: `collaboration ${context.collaborationId} called off: ${context.failureReason ?? 'unknown'}`,
        subject: { collaborationId: context.collaborationId },
      }),
    ),
    notifyCompensationFailed: emit(({ context }) =>
      command('notification.requested', {
        topic: 'collaboration.compensation-failed',
        severity: 'error',
        message: `collaboration ${context.collaborationId}: compensation failed (${context.compensation.errors.at(-1) ?? 'unknown'})`,
        subject: { collaborationId: context.collaborationId },
      }),
    ),
  },
}).createMachine({
  id: 'CollaborationProcessManager',
  context: ({ input }) => ({
    collaborationId: input.key,
    strategy: '',
    joinTimeoutMs: 1,
    invited: [],
    joined: [],
    declined: [],
    failureReason: null,
    compensation: emptyCompensationLog(),
  }),
  initial: 'pending',
  states: {
    pending: {
      on: { 'collaboration.requested': { target: 'awaitingJoins', actions: 'acceptRequest' } },
    },
    awaitingJoins: {
      entry: 'inviteAll',
      after: { joinTimeout: { target: 'compensating', actions: 'recordJoinTimeout' } },
      on: {
        // Duplicates and joins of agents never invited fail both guards and are ignored.
        'agent.joined': [
          { guard: 'isLastPendingInvitee', target: 'completed', actions: 'recordJoin' },
          { guard: 'isPendingInvitee', actions: 'recordJoin' },
        ],
        'agent.declined': { guard: 'isInvitee', target: 'compensating', actions: 'recordDecline' },
      },
    },
    compensating: compensatingState({
      replies: [],
      retryDelay: 'compensationRetry',
      done: '#CollaborationProcessManager.compensated',
      failed: '#CollaborationProcessManager.failed',
    }),
    completed: { type: 'final', entry: 'announceStart' },
    compensated: { type: 'final', tags: ['compensated'], entry: 'notifyCalledOff' },
    // Reached only if a cancellation is made to await a reply that keeps failing; an operator can resume it
    // (`sagaflow sagas resume CollaborationProcessManager <key> --reason …`): compensation starts again.
    failed: resumableFailedState({ compensating: '#CollaborationProcessManager.compensating', entry: 'notifyCompensationFailed' }),
  },
});
