/**
 * Compensation as part of the statechart.
 *
 * The convention: the saga keeps a {@link CompensationLog} at `context.compensation`. Each forward step that
 * changed the world records, when it succeeds, the command that undoes it ({@link recordStep}). When the saga
 * gives up (a failure event, a timeout), it enters a compensating state built by {@link compensatingState}:
 * that state emits the recorded commands in reverse order, one at a time, and waits for each one's reply event
 * before the next. A failure reply or a missing reply (a named retry delay) re-emits the command; after
 * `maxAttempts` tries the saga moves to its `failed` state, where an operator sees it. When the log is empty
 * the saga moves to its `compensated` state.
 *
 * Everything here is pure and JSON-native, so it runs inside xstate's `transition()` and survives persistence.
 *
 * @example
 * const machine = setup({
 *   types: { context: {} as { compensation: CompensationLog }, events: {} as MyEvents },
 *   delays: { compensationRetry: 30_000 },
 *   actions: { ...compensationActions<Ctx, MyEvents>() },
 *   guards: { ...compensationGuards<Ctx, MyEvents>({ maxAttempts: 3 }) },
 * }).createMachine({
 *   id: 'Payment',
 *   context: { compensation: emptyCompensationLog() },
 *   // ...forward states record steps with assign({ compensation: ({ context }) => recordStep(...) })
 *   states: {
 *     compensating: compensatingState({
 *       replies: ['payment.refunded'], failures: ['payment.refund.failed'], retryDelay: 'compensationRetry',
 *       done: '#Payment.compensated', failed: '#Payment.failed',
 *     }),
 *     compensated: { type: 'final', tags: ['compensated'] },
 *     failed: { type: 'final', tags: ['failed'] },
 *   },
 * });
 */
import { assign, emit, type EventObject } from 'xstate';
import { RESUME_EVENT } from './resume.js';
import { SagaTag } from './status.js';

/** A command or event a saga emits: becomes an outbox row. JSON-native `data`. */
export interface SagaCommand {
  type: string;
  data: Record<string, unknown>;
}

/** The undo of one completed forward step. */
export interface CompensationStep {
  /** Unique within the instance, e.g. `assign-agent` or `invite:agent-7`. Recording the same name again replaces it. */
  step: string;
  /** Emitted to undo the step. */
  command: SagaCommand;
  /** Event type confirming the undo. Absent: the command is fire-and-forget (emitted, then done). */
  reply?: string;
  /** Event type reporting that the undo failed (retried, then `failed`). */
  failure?: string;
  /** Fields the reply's (and failure's) `data` must carry with these values, e.g. `{ agentId: 'a-1' }`. */
  match?: Record<string, string>;
}

/** The compensation stack kept in saga context at `context.compensation`. */
export interface CompensationLog {
  /** Completed steps, oldest first; compensated from the end. */
  steps: CompensationStep[];
  /** Failed tries of the pending (last) step so far. */
  attempt: number;
  /** Recent compensation errors, newest last (at most {@link MAX_COMPENSATION_ERRORS}). */
  errors: string[];
}

/** How many compensation errors the log keeps. */
export const MAX_COMPENSATION_ERRORS = 20;

/** A fresh, empty log. */
export function emptyCompensationLog(): CompensationLog {
  return { steps: [], attempt: 0, errors: [] };
}

/** Records (pushes) a completed step's compensation. A step of the same name is replaced and moves to the top. */
export function recordStep(log: CompensationLog, step: CompensationStep): CompensationLog {
  return { ...log, steps: [...log.steps.filter((s) => s.step !== step.step), step] };
}

/** Drops a step that needs no undo any more (e.g. an invitation the agent declined). */
export function forgetStep(log: CompensationLog, stepName: string): CompensationLog {
  return { ...log, steps: log.steps.filter((s) => s.step !== stepName) };
}

/** The step compensated next (the most recent), if any. */
export function pendingStep(log: CompensationLog): CompensationStep | undefined {
  return log.steps[log.steps.length - 1];
}

/** The pending step is undone: pop it and reset the attempt counter. */
export function settlePending(log: CompensationLog): CompensationLog {
  return { steps: log.steps.slice(0, -1), attempt: 0, errors: log.errors };
}

/** The pending step's undo failed once (error reply or no reply in time). */
export function failPending(log: CompensationLog, error: string): CompensationLog {
  const step = pendingStep(log);
  const line = `${step ? step.step : '(none)'}: ${error}`;
  return { steps: log.steps, attempt: log.attempt + 1, errors: [...log.errors, line].slice(-MAX_COMPENSATION_ERRORS) };
}

function dataOf(event: EventObject): Record<string, unknown> {
  const data = (event as { data?: unknown }).data;
  return data !== null && typeof data === 'object' ? (data as Record<string, unknown>) : {};
}

function matches(step: CompensationStep, event: EventObject): boolean {
  if (!step.match) return true;
  const data = dataOf(event);
  return Object.entries(step.match).every(([k, v]) => data[k] === v);
}

/** True if `event` is the reply that confirms the pending step's undo. */
export function isReplyToPending(log: CompensationLog, event: EventObject): boolean {
  const step = pendingStep(log);
  return step?.reply !== undefined && step.reply === event.type && matches(step, event);
}

/** True if `event` reports that the pending step's undo failed. */
export function isFailureOfPending(log: CompensationLog, event: EventObject): boolean {
  const step = pendingStep(log);
  return step?.failure !== undefined && step.failure === event.type && matches(step, event);
}

/** Text of a failure event for the log: its `data.error` when it is a string, else its type. */
export function describeFailure(event: EventObject): string {
  const error = dataOf(event).error;
  if (typeof error === 'string') return error;
  return event.type.startsWith('xstate.after.') ? 'no reply in time' : event.type;
}

interface WithCompensation {
  compensation: CompensationLog;
}

/** Options of {@link compensationGuards}. */
export interface CompensationGuardOptions {
  /** Tries per compensating command (first emit included) before the saga goes to `failed`. @default 3 */
  maxAttempts?: number;
}

/**
 * Named actions used by {@link compensatingState}; spread them into `setup({ actions })`.
 * - `emitPendingCompensation`: emits the pending step's command;
 * - `settlePendingCompensation`: pops the pending step;
 * - `failPendingCompensation`: counts a failed try and records the error.
 */
export function compensationActions<TContext extends WithCompensation, TEvent extends EventObject>() {
  return {
    emitPendingCompensation: emit<TContext, TEvent, undefined, TEvent, SagaCommand>(({ context }) => {
      const step = pendingStep(context.compensation);
      // Guarded by compensationDone in compensatingState; an empty log here is a bug in the machine.
      if (!step) throw new Error('emitPendingCompensation: the compensation log is empty');
      return step.command;
    }),
    settlePendingCompensation: assign<TContext, TEvent, undefined, TEvent, never>(
      ({ context }) => ({ compensation: settlePending(context.compensation) }) as Partial<TContext>,
    ),
    failPendingCompensation: assign<TContext, TEvent, undefined, TEvent, never>(
      ({ context, event }) => ({ compensation: failPending(context.compensation, describeFailure(event)) }) as Partial<TContext>,
    ),
    /** An operator's resume: a fresh attempt budget for the pending step (the errors are kept). */
    resumeCompensation: assign<TContext, TEvent, undefined, TEvent, never>(
      ({ context }) => ({ compensation: { ...context.compensation, attempt: 0 } }) as Partial<TContext>,
    ),
  };
}

/**
 * A failed state an operator can resume (`sagaflow sagas resume <saga> <key> --reason …`): not final, tagged
 * `failed` (the instance shows as failed and takes no other event), and on the operator's resume it goes back
 * to `compensating` with a fresh attempt budget, so the pending undo is sent again.
 *
 * @example
 * failed: resumableFailedState({ compensating: '#Trip.compensating', entry: 'notifyCompensationFailed' }),
 */
export function resumableFailedState<const TEntry extends string>(options: { compensating: string; entry: TEntry }) {
  return {
    tags: [SagaTag.Failed],
    entry: options.entry,
    on: { [RESUME_EVENT]: { target: options.compensating, actions: 'resumeCompensation' as const } },
  };
}

/**
 * Named guards used by {@link compensatingState}; spread them into `setup({ guards })`.
 */
export function compensationGuards<TContext extends WithCompensation, TEvent extends EventObject>(options: CompensationGuardOptions = {}) {
  const maxAttempts = options.maxAttempts ?? 3;
  type Args = { context: TContext; event: TEvent };
  return {
    compensationDone: ({ context }: Args) => context.compensation.steps.length === 0,
    pendingCompensationIsFireAndForget: ({ context }: Args) => pendingStep(context.compensation)?.reply === undefined,
    isReplyToPendingCompensation: ({ context, event }: Args) => isReplyToPending(context.compensation, event),
    isFailureOfPendingCompensation: ({ context, event }: Args) => isFailureOfPending(context.compensation, event),
    /** A failure of the pending step, with another try allowed. */
    isRetryableFailureOfPendingCompensation: ({ context, event }: Args) =>
      isFailureOfPending(context.compensation, event) && context.compensation.attempt + 1 < maxAttempts,
    /** True while another try is allowed after the one that just failed. */
    canRetryCompensation: ({ context }: Args) => context.compensation.attempt + 1 < maxAttempts,
  };
}

/** Options of {@link compensatingState}. */
export interface CompensatingStateOptions<TType extends string, TDelay extends string> {
  /** Every reply type any step may wait for. */
  replies: readonly TType[];
  /** Every failure type any step may report. */
  failures?: readonly TType[];
  /** Named delay (in `setup({ delays })`) after which a missing reply counts as a failed try. */
  retryDelay: TDelay;
  /** Target when every step is undone, e.g. `#Saga.compensated`. */
  done: string;
  /** Target when a step's undo failed `maxAttempts` times, e.g. `#Saga.failed`. */
  failed: string;
}

/**
 * A compound state (tagged `compensating`) that works through `context.compensation` from the top:
 * `next` emits fire-and-forget steps at once and hands a step with a reply to `awaitingReply`, which re-emits
 * on a failure reply or when `retryDelay` passes, up to `maxAttempts` tries. Needs the actions of
 * {@link compensationActions} and the guards of {@link compensationGuards} in `setup()`.
 *
 * Events other than the listed replies/failures are not handled here; add them next to the spread result
 * (e.g. `{ ...compensatingState(o), on: { 'agent.assigned': ... } }`) when a late reply needs its own undo.
 */
export function compensatingState<TType extends string, TDelay extends string>(options: CompensatingStateOptions<TType, TDelay>) {
  const onReply = {
    guard: 'isReplyToPendingCompensation' as const,
    target: 'next' as const,
    actions: 'settlePendingCompensation' as const,
  };
  const onFailure: [
    { guard: 'canRetryCompensation'; target: 'awaitingReply'; reenter: true; actions: 'failPendingCompensation' },
    { target: string; actions: 'failPendingCompensation' },
  ] = [
    { guard: 'canRetryCompensation', target: 'awaitingReply', reenter: true, actions: 'failPendingCompensation' },
    { target: options.failed, actions: 'failPendingCompensation' },
  ];
  const onFailureReply = [
    { ...onFailure[0], guard: 'isRetryableFailureOfPendingCompensation' as const },
    { ...onFailure[1], guard: 'isFailureOfPendingCompensation' as const },
  ];
  const on: Partial<Record<TType, typeof onReply | typeof onFailureReply>> = {};
  for (const type of options.replies) on[type] = onReply;
  for (const type of options.failures ?? []) on[type] = onFailureReply;
  return {
    tags: [SagaTag.Compensating],
    initial: 'next' as const,
    states: {
      next: {
        always: [
          { guard: 'compensationDone' as const, target: options.done },
          {
            guard: 'pendingCompensationIsFireAndForget' as const,
            target: 'next' as const,
            reenter: true,
            actions: ['emitPendingCompensation' as const, 'settlePendingCompensation' as const],
          },
          { target: 'awaitingReply' as const },
        ],
      },
      awaitingReply: {
        entry: 'emitPendingCompensation' as const,
        after: { [options.retryDelay]: onFailure } as Record<TDelay, typeof onFailure>,
        on,
      },
    },
  };
}
