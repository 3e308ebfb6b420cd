import type { Logger } from 'pino';
import { ConcurrencyError, SagaVersionMismatchError, SagaflowError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { NewDeadLetter } from '../core/ports/dead-letters.js';
import type { SagaStepTx, SagaStepWrite } from '../core/ports/saga-repository.js';
import type { SagaInstance, SagaStatus, TimerEntry } from '../core/ports/saga-store.js';
import { decide, type Decision } from '../core/saga/decider.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { finishedStatuses } from '../core/saga/status.js';
import { timerEnvelope } from '../core/saga/timer-event.js';
import { RESUME_EVENT } from '../core/saga/resume.js';
import { definitionFor, loadedVersions } from '../core/saga/versions.js';
import { stampTrace, traceStep, type TracedSpan } from '../core/tracing/spans.js';

/** What happened to one event for one saga. */
export const StepResult = {
  /** A new instance was created by a start event. */
  Created: 'created',
  Applied: 'applied',
  /** Already in the inbox: nothing done. */
  Duplicate: 'duplicate',
  /** Not accepted in the current state; recorded in history. */
  Ignored: 'ignored',
  /** The instance had finished; recorded in history. */
  AfterCompletion: 'after-completion',
  /** No instance and not a start event, `onMissing: 'ignore'`. */
  Missing: 'missing',
  Parked: 'parked',
  DeadLettered: 'dead-lettered',
  /** A timer another worker holds, or that was cancelled or rescheduled meanwhile. */
  TimerSkipped: 'timer-skipped',
  /** A timer of a finished or vanished instance, dropped with a history note. */
  TimerDropped: 'timer-dropped',
} as const;
export type StepResult = (typeof StepResult)[keyof typeof StepResult];

/** The outcome of one step. */
export interface StepOutcome {
  saga: string;
  key: string | undefined;
  eventId: string;
  result: StepResult;
  status?: SagaStatus;
  state?: unknown;
  /** Events this step appended to the log. */
  emitted?: EventEnvelope[];
  timers?: TimerEntry[];
  cancelledTimers?: string[];
  error?: { message: string; code?: string };
}

function errorInfo(err: unknown): NewDeadLetter['error'] {
  const e = err instanceof Error ? err : new Error(String(err));
  const info: NewDeadLetter['error'] = { message: e.message };
  if (err instanceof SagaflowError) info.code = err.code;
  if (e.stack) info.stack = e.stack;
  return info;
}

/** One step's inputs. */
export interface StepInput {
  saga: SagaDefinition;
  key: string;
  envelope: EventEnvelope;
  timer?: TimerEntry;
  unpark?: boolean;
  now: Date;
  logger: Logger;
}

function deadLetterWrite(input: StepInput, err: unknown, instance: SagaInstance | undefined): { write: SagaStepWrite; outcome: StepOutcome } {
  const at = input.now.toISOString();
  const error = errorInfo(err);
  const state = instance?.state ?? null;
  return {
    // Not put in the inbox: an operator's retry of the dead letter (same event id) must be able to apply it.
    write: {
      saga: input.saga.name,
      key: input.key,
      event: input.envelope,
      inbox: false,
      unpark: input.unpark ?? false,
      history: { fromState: state, toState: state, effects: { emitted: [], timersScheduled: [], timersCancelled: [] }, kind: 'dead-lettered', note: error.message },
      deadLetter: {
        handlerId: `saga:${input.saga.name}`,
        event: input.envelope,
        error,
        attempts: 1,
        firstFailedAt: at,
        lastFailedAt: at,
        saga: input.saga.name,
        sagaKey: input.key,
      },
    },
    outcome: { saga: input.saga.name, key: input.key, eventId: input.envelope.id, result: StepResult.DeadLettered, error: { message: error.message, ...(error.code ? { code: error.code } : {}) } },
  };
}

/**
 * The body of one step transaction: read → decide → write. Throws only infrastructure errors and
 * retryable conflicts; poison (bad data, a throwing guard, a version misfit) becomes a dead letter in
 * the same transaction. Runs in a span continuing the cause's trace; the events it emits carry that
 * span's `traceparent` (metadata only: the decision and the emitted ids do not depend on it).
 */
export function runStep(tx: SagaStepTx, input: StepInput): Promise<StepOutcome> {
  return traceStep(input, (span) => stepIn(tx, input, span));
}

async function stepIn(tx: SagaStepTx, input: StepInput, span: TracedSpan): Promise<StepOutcome> {
  const { saga, key, envelope } = input;
  const base = { saga: saga.name, key, eventId: envelope.id };
  if (input.timer && !(await tx.claimTimer(input.timer))) return { ...base, result: StepResult.TimerSkipped };
  const { instance, seen } = await tx.read(saga.name, key, envelope.id);
  if (seen) {
    if (input.unpark) await tx.write({ saga: saga.name, key, event: envelope, inbox: false, unpark: true });
    return { ...base, result: StepResult.Duplicate };
  }
  const empty = { emitted: [], timersScheduled: [], timersCancelled: [] };

  if (input.timer && (!instance || finishedStatuses.has(instance.status))) {
    const state = instance?.state ?? null;
    await tx.write({ saga: saga.name, key, event: envelope, history: { fromState: state, toState: state, effects: empty, kind: 'timer-dropped', note: instance ? `instance is ${instance.status}` : 'no instance' } });
    return { ...base, result: StepResult.TimerDropped };
  }
  if (!instance && !input.timer && !saga.startedBy.includes(envelope.type)) {
    const history = { fromState: null, toState: null, effects: empty };
    if (saga.onMissing === 'ignore') {
      await tx.write({ saga: saga.name, key, event: envelope, inbox: false, history: { ...history, kind: 'missing-ignored', note: 'no instance; not a start event' } });
      return { ...base, result: StepResult.Missing };
    }
    if (saga.onMissing === 'park') {
      await tx.write({ saga: saga.name, key, event: envelope, inbox: false, park: true, history: { ...history, kind: 'parked', note: 'no instance yet; applied when one starts' } });
      return { ...base, result: StepResult.Parked };
    }
    const dl = deadLetterWrite(input, new SagaflowError('NOT_FOUND', `no "${saga.name}" instance "${key}" and "${envelope.type}" does not start one`), undefined);
    await tx.write(dl.write);
    return dl.outcome;
  }
  // The instance runs on the version that started it (or that it was migrated to); new ones on the newest.
  const def = definitionFor(saga, instance ? instance.definitionVersion : saga.version);
  if (instance && !def && !finishedStatuses.has(instance.status)) {
    const dl = deadLetterWrite(input, new SagaVersionMismatchError(saga.name, key, instance.definitionVersion, loadedVersions(saga)), instance);
    await tx.write(dl.write);
    return dl.outcome;
  }

  let decision: Decision;
  if (instance && (!def || finishedStatuses.has(instance.status))) {
    // Finished: takes no more events, whichever version it ran (and even when that version is not loaded).
    decision = { kind: 'ignored', reason: 'after-completion', state: instance.state };
  } else if (instance && !input.timer && !def!.eventTypes.has(envelope.type)) {
    // A type only other versions declare: this instance's version does not take it.
    decision = { kind: 'ignored', reason: 'not-accepted', state: instance.state };
  } else {
    try {
      decision = decide({
        saga: def!,
        key,
        envelope,
        ...(input.timer ? { timerEvent: input.timer.event } : {}),
        ...(instance ? { instance: { snapshot: instance.snapshot, state: instance.state } } : {}),
        now: input.now,
      });
    } catch (err) {
      input.logger.warn({ err, saga: saga.name, sagaKey: key, eventId: envelope.id, eventType: envelope.type }, 'saga event dead-lettered');
      const dl = deadLetterWrite(input, err, instance);
      await tx.write(dl.write);
      return dl.outcome;
    }
  }

  if (decision.kind === 'ignored') {
    // The version is bumped even though nothing changed: the decision was made on this version, and a
    // concurrent writer that moved the instance must make this step retry (the event may be accepted then).
    const i = instance!;
    await tx.write({
      saga: saga.name, key, event: envelope, unpark: input.unpark ?? false,
      instance: { create: false, expectedVersion: i.version, definitionVersion: i.definitionVersion, status: i.status, state: i.state, context: i.context, snapshot: i.snapshot },
      history: { fromState: i.state, toState: i.state, effects: empty, kind: decision.reason === 'after-completion' ? 'after-completion' : 'ignored', note: `${envelope.type} not accepted in this state` },
    });
    return { ...base, result: decision.reason === 'after-completion' ? StepResult.AfterCompletion : StepResult.Ignored, status: i.status, state: i.state };
  }

  const emitted = decision.emitted.map((e) => stampTrace(e, span));
  try {
    await tx.write({
      saga: saga.name, key, event: envelope, unpark: input.unpark ?? false,
      instance: {
        create: !instance, expectedVersion: instance?.version ?? 0, definitionVersion: def!.version,
        status: decision.status, state: decision.state, context: decision.context, snapshot: decision.snapshot,
      },
      history: {
        // The decision time, so a replay (`sagaflow verify`) recomputes emitted timestamps and timer due times exactly.
        fromState: decision.fromState, toState: decision.state, effects: decision.effects, kind: 'applied', at: input.now.toISOString(),
        // An operator's resume is recorded as what it is, with the operator's reason.
        ...(envelope.type === RESUME_EVENT ? { note: `operator resume: ${String(envelope.data.reason)}` } : {}),
      },
      emitted,
      timers: decision.timers,
      cancelledTimers: decision.cancelledTimers,
    });
  } catch (err) {
    // The log rejected an emitted event (checked before anything was written): the cause is poison.
    if (!(err instanceof SagaflowError) || err.retryable || err instanceof ConcurrencyError) throw err;
    input.logger.warn({ err, saga: saga.name, sagaKey: key, eventId: envelope.id }, 'an emitted event was rejected by the event log; cause dead-lettered');
    const dl = deadLetterWrite(input, err, instance);
    await tx.write(dl.write);
    return dl.outcome;
  }
  return {
    ...base, result: instance ? StepResult.Applied : StepResult.Created, status: decision.status, state: decision.state,
    emitted, timers: decision.timers, cancelledTimers: decision.cancelledTimers,
  };
}

/** The envelope and key of a fired timer. */
export function timerInput(timer: TimerEntry): { key: string; envelope: EventEnvelope } {
  return { key: timer.key, envelope: timerEnvelope(timer) };
}
