/**
 * TaskProcessing: task.created → request an agent → agent.assigned → await task.completed / task.failed.
 * A task.failed or the SLA timeout compensates: release the assigned agent (await agent.released), then
 * re-queue the task if attempts remain, else notify. See README.md for the diagram.
 */
import { assign, emit, setup } from 'xstate';
import {
  compensatingState,
  compensationActions,
  compensationGuards,
  emptyCompensationLog,
  recordStep,
  type CompensationLog,
  type SagaCommand,
} from 'sagaflow';
import { command, taskCreated } from '../domain-events.js';
import type { TaskProcessingEvent } from './events.js';

/** How long a compensating command may go unanswered before it is sent again. */
export const COMPENSATION_RETRY_MS = 30_000;
/** Tries per compensating command before the saga ends `failed`. */
export const COMPENSATION_MAX_ATTEMPTS = 3;

/** TaskProcessing context (JSON-native: no `undefined`, no Dates). */
export interface TaskProcessingContext {
  taskId: string;
  taskType: string;
  priority: number;
  attempt: number;
  maxAttempts: number;
  slaMs: number;
  /** The agent working on the task, once assigned. */
  agentId: string | null;
  completedBy: string | null;
  /** Why the task is being compensated: the failure's error, or `SLA of <n> ms exceeded`. */
  failureReason: string | null;
  compensation: CompensationLog;
}

type Ctx = TaskProcessingContext;
type Ev = TaskProcessingEvent;
type Of<T extends Ev['type']> = Extract<Ev, { type: T }>;

function releaseCommand(taskId: string, agentId: string, reason: string) {
  return command('agent.release.requested', { taskId, agentId, reason });
}

/** The TaskProcessing statechart. Pure: it emits commands, never performs I/O. */
export const taskProcessingMachine = setup({
  types: {
    context: {} as Ctx,
    events: {} as Ev,
    input: {} as { key: string; event?: unknown },
    emitted: {} as SagaCommand,
  },
  delays: {
    /** From task creation to completion; per task (`data.slaMs`). */
    slaTimeout: ({ context }) => context.slaMs,
    compensationRetry: COMPENSATION_RETRY_MS,
  },
  guards: {
    ...compensationGuards<Ctx, Ev>({ maxAttempts: COMPENSATION_MAX_ATTEMPTS }),
    attemptsRemain: ({ context }) => context.attempt < context.maxAttempts,
    isAnotherAgent: ({ context, event }) => event.type === 'agent.assigned' && event.data.agentId !== context.agentId,
  },
  actions: {
    ...compensationActions<Ctx, Ev>(),
    acceptTask: assign(({ event }) => {
      // The runtime already parsed data with the schema; parsing again applies defaults for direct callers too.
      const d = taskCreated.parse((event as Of<'task.created'>).data);
      return { taskId: d.taskId, taskType: d.taskType, priority: d.priority, attempt: d.attempt, maxAttempts: d.maxAttempts, slaMs: d.slaMs };
    }),
    requestAssignment: emit(({ context }) =>
      command('agent.assignment.requested', { taskId: context.taskId, taskType: context.taskType, priority: context.priority, attempt: context.attempt }),
    ),
    recordAssignment: assign(({ context, event }) => {
      const agentId = (event as Of<'agent.assigned'>).data.agentId;
      return {
        agentId,
        compensation: recordStep(context.compensation, {
          step: 'assign-agent',
          command: releaseCommand(context.taskId, agentId, 'task compensation'),
          reply: 'agent.released',
          failure: 'agent.release.failed',
          match: { agentId },
        }),
      };
    }),
    releaseExtraAgent: emit(({ context, event }) =>
      releaseCommand(context.taskId, (event as Of<'agent.assigned'>).data.agentId, 'task already has an agent or is being compensated'),
    ),
    recordCompletion: assign(({ context, event }) => {
      const by = (event as Of<'task.completed'>).data.completedBy;
      return { completedBy: by, agentId: context.agentId ?? by };
    }),
    recordFailure: assign({ failureReason: ({ event }) => (event as Of<'task.failed'>).data.error }),
    recordSlaBreach: assign({ failureReason: ({ context }) => `SLA of ${context.slaMs} ms exceeded` }),
    requeue: emit(({ context }) =>
      command('task.requeued', {
        taskId: context.taskId,
        taskType: context.taskType,
        priority: context.priority,
        attempt: context.attempt + 1,
        maxAttempts: context.maxAttempts,
        reason: context.failureReason ?? 'unknown',
      }),
    ),
    notifyGaveUp: emit(({ context }) =>
      command('notification.requested', {
        topic: 'task.abandoned',
        severity: 'warning',
        message: `task ${context.taskId} gave up after ${context.attempt} of ${context.maxAttempts} attempts: ${context.failureReason ?? 'unknown'}`,
        subject: { taskId: context.taskId },
      }),
    ),
    notifyCompensationFailed: emit(({ context }) =>
      command('notification.requested', {
        topic: 'task.compensation-failed',
        severity: 'error',
        message: `task ${context.taskId}: compensation failed (${context.compensation.errors.at(-1) ?? 'unknown'}); needs an operator`,
        subject: { taskId: context.taskId, ...(context.agentId ? { agentId: context.agentId } : {}) },
      }),
    ),
  },
}).createMachine({
  id: 'TaskProcessing',
  context: ({ input }) => ({
    taskId: input.key,
    taskType: '',
    priority: 0,
    attempt: 1,
    maxAttempts: 1,
    slaMs: 1,
    agentId: null,
    completedBy: null,
    failureReason: null,
    compensation: emptyCompensationLog(),
  }),
  initial: 'pending',
  states: {
    pending: {
      on: { 'task.created': { target: 'active', actions: 'acceptTask' } },
    },
    active: {
      initial: 'awaitingAssignment',
      after: { slaTimeout: { target: 'compensating', actions: 'recordSlaBreach' } },
      on: {
        // Accepted while awaiting assignment too: a completion that overtakes agent.assigned still completes.
        'task.completed': { target: 'completed', actions: 'recordCompletion' },
        'task.failed': { target: 'compensating', actions: 'recordFailure' },
      },
      states: {
        awaitingAssignment: {
          entry: 'requestAssignment',
          on: { 'agent.assigned': { target: 'awaitingCompletion', actions: 'recordAssignment' } },
        },
        awaitingCompletion: {
          on: {
            // A second, different agent (duplicate assignment): free it at once. The same agent again is ignored.
            'agent.assigned': { guard: 'isAnotherAgent', actions: 'releaseExtraAgent' },
          },
        },
      },
    },
    compensating: {
      ...compensatingState({
        replies: ['agent.released'],
        failures: ['agent.release.failed'],
        retryDelay: 'compensationRetry',
        done: '#TaskProcessing.recovering',
        failed: '#TaskProcessing.failed',
      }),
      on: {
        // An assignment that arrives after the saga gave up: release that agent too (fire-and-forget).
        'agent.assigned': { guard: 'isAnotherAgent', actions: 'releaseExtraAgent' },
      },
    },
    recovering: {
      always: [
        { guard: 'attemptsRemain', target: 'compensated', actions: 'requeue' },
        { target: 'compensated', actions: 'notifyGaveUp' },
      ],
    },
    completed: { type: 'final' },
    compensated: { type: 'final', tags: ['compensated'] },
    failed: { type: 'final', tags: ['failed'], entry: 'notifyCompensationFailed' },
  },
});
