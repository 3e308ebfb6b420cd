import { createActor, fromTransition, type AnyActorScope, type AnyMachineSnapshot, type AnyStateMachine, type EventObject } from 'xstate';
import { v5 as uuidv5 } from 'uuid';
import { SagaDefinitionError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { SagaStatus, StepEffects, TimerEntry } from '../ports/saga-store.js';
import type { SagaDefinition } from './define-saga.js';
import { toEmittedEnvelope, toMachineEvent } from './event-mapping.js';
import { deriveStatus } from './status.js';

/** The stored part of an instance the decider needs. */
export interface DeciderInstance {
  snapshot: unknown;
  state: unknown;
}

/** One event for one instance. */
export interface DecideInput {
  saga: SagaDefinition;
  key: string;
  /** The event envelope (a domain event, or the synthetic envelope of a fired timer). */
  envelope: EventEnvelope;
  /** For a fired timer: the exact event the machine scheduled. Omit for domain events. */
  timerEvent?: EventObject;
  /** The current instance; omit to start a new one. */
  instance?: DeciderInstance;
  now: Date;
}

/** What one step decided. Pure data: the runtime persists it in one transaction. */
export type Decision =
  | {
      kind: 'applied';
      /** `machine.getPersistedSnapshot(next)`: plain JSON. */
      snapshot: unknown;
      fromState: unknown;
      state: unknown;
      context: Record<string, unknown>;
      status: SagaStatus;
      /** Events the step emits, appended to the log in the step's transaction (ids derived, see `emittedEventId`). */
      emitted: EventEnvelope[];
      timers: TimerEntry[];
      cancelledTimers: string[];
      effects: StepEffects;
    }
  | { kind: 'ignored'; reason: 'not-accepted' | 'after-completion'; state: unknown };

interface ActionLike {
  type: string;
  params?: unknown;
}

const timerNamespace = '6f1c2d0e-4b7a-4c55-9d6e-8a3f0b2e9c41';

/**
 * The event id of a timer firing: derived from saga, key, timer id and due time, so a timer fired twice
 * (two pollers, a retry after a crash) is the same event and the inbox applies it once.
 */
export function timerEventId(saga: string, key: string, timerId: string, dueAt: string): string {
  return uuidv5(`${saga}\n${key}\n${timerId}\n${dueAt}`, timerNamespace);
}

/** Restores a persisted snapshot without starting an actor (see XSTATE-DURABLE.md: never start it). */
export function restoreSnapshot(saga: SagaDefinition, persisted: unknown): AnyMachineSnapshot {
  return createActor(saga.machine, { snapshot: persisted as never }).getSnapshot() as AnyMachineSnapshot;
}

/** The logic of the stand-in `self` of a step's actor scope: inert, with a trivial initial state. */
const scopeSelfLogic = fromTransition((state: undefined) => state, undefined);

/**
 * An inert actor scope that records the actions a transition resolves instead of executing them, like
 * xstate's own `transition()` / `initialTransition()` do. Those build their scope around a new actor of
 * the machine, whose constructor eagerly computes the machine's initial state with no input (running the
 * context factory — which throws when it reads `input`, caught and discarded — and every entry action):
 * on each call, most of a step's CPU. Here `self` is a trivial, never-started actor instead; on the
 * durable path nothing is executed, so `self` and `system` only need to exist (no invoke, no spawn).
 */
export function inertScope(): { scope: AnyActorScope; actions: ActionLike[] } {
  const actions: ActionLike[] = [];
  const self = createActor(scopeSelfLogic);
  const noop = () => {};
  const scope = {
    self,
    id: '',
    sessionId: '',
    logger: noop,
    defer: noop,
    stopChild: noop,
    emit: noop,
    system: self.system,
    actionExecutor: (action: ActionLike) => void actions.push(action),
  };
  return { scope: scope as unknown as AnyActorScope, actions };
}

/** `createActor(machine, { snapshot }).getSnapshot()` without a second actor: the same restore, same error handling. */
function restoreIn(machine: AnyStateMachine, persisted: unknown, scope: AnyActorScope): AnyMachineSnapshot {
  try {
    return machine.restoreSnapshot(persisted as never, scope) as AnyMachineSnapshot;
  } catch (error) {
    return { status: 'error', output: undefined, error } as unknown as AnyMachineSnapshot;
  }
}

function collect(saga: SagaDefinition, key: string, actions: readonly ActionLike[], cause: EventEnvelope, now: Date) {
  const emitted: EventEnvelope[] = [];
  const timers = new Map<string, TimerEntry>();
  const cancelled = new Set<string>();
  for (const action of actions) {
    const p = (action.params ?? {}) as Record<string, unknown>;
    if (action.type === 'xstate.emit') {
      emitted.push(toEmittedEnvelope(saga, key, p.event, cause, now, emitted.length));
    } else if (action.type === 'xstate.raise' && p.delay !== undefined) {
      // A raise without delay is already applied inside the snapshot; only delayed ones become timers.
      const id = typeof p.id === 'string' ? p.id : undefined;
      if (!id) throw new SagaDefinitionError(saga.name, 'a delayed raise has no id');
      const delay = Number(p.delay);
      if (!Number.isFinite(delay) || delay < 0) throw new SagaDefinitionError(saga.name, `delayed raise "${id}" has an invalid delay ${String(p.delay)}`);
      const event = JSON.parse(JSON.stringify(p.event)) as TimerEntry['event'];
      timers.set(id, { id, saga: saga.name, key, event, dueAt: new Date(now.getTime() + delay).toISOString() });
      cancelled.delete(id);
    } else if (action.type === 'xstate.cancel') {
      const id = String(p.sendId);
      // Cancelled later in the same step → drop both; cancelling a stored timer → a delete.
      timers.delete(id);
      cancelled.add(id);
    }
    // xstate.log and custom named actions perform nothing on the durable path.
  }
  return { emitted, timers: [...timers.values()], cancelled: [...cancelled] };
}

/**
 * The pure step: restore → transition → effects. Executes nothing, performs no I/O, and is
 * deterministic: the same instance, event and time give the same decision, emitted event ids included.
 * Throws on a poison event (bad data, a guard or assign that throws, a machine error) so the caller can
 * dead-letter it.
 */
export function decide(input: DecideInput): Decision {
  const { saga, key, envelope, now } = input;
  const event: EventObject = input.timerEvent ?? toMachineEvent(saga, envelope);
  const machine = saga.machine;
  const { scope, actions } = inertScope();
  let current: AnyMachineSnapshot;
  if (input.instance) {
    current = restoreIn(machine, input.instance.snapshot, scope);
    if (current.status === 'done') return { kind: 'ignored', reason: 'after-completion', state: current.value };
    if (current.status === 'error') throw new SagaDefinitionError(saga.name, `instance "${key}" is in machine error state`, { details: { key } });
    // can() and not `next === current`: a re-entry with unchanged context returns the same object and actions (trap 15).
    if (!current.can(event)) return { kind: 'ignored', reason: 'not-accepted', state: current.value };
  } else {
    const initial = machine.getInitialSnapshot(scope, { key, event }) as AnyMachineSnapshot;
    if (initial.status === 'error') {
      throw new SagaDefinitionError(saga.name, `the machine fails to start: ${String((initial as { error?: unknown }).error)}`);
    }
    current = initial;
    if (!current.can(event)) {
      throw new SagaDefinitionError(saga.name, `start event "${event.type}" is not accepted by the initial state`, { details: { event: event.type } });
    }
  }
  // Start actions (if any) are already in `actions`; the transition's follow in order.
  const nextSnapshot = machine.transition(current, event, scope) as AnyMachineSnapshot;
  if (nextSnapshot.status === 'error') {
    throw (nextSnapshot as { error?: unknown }).error ?? new Error(`machine error on ${event.type}`);
  }
  const { emitted, timers, cancelled } = collect(saga, key, actions, envelope, now);
  const persisted = machine.getPersistedSnapshot(nextSnapshot);
  return {
    kind: 'applied',
    snapshot: persisted,
    fromState: input.instance ? current.value : null,
    state: nextSnapshot.value,
    context: (nextSnapshot.context ?? {}) as Record<string, unknown>,
    status: deriveStatus(nextSnapshot),
    emitted,
    timers,
    cancelledTimers: cancelled,
    effects: {
      emitted: emitted.map((e) => ({ id: e.id, type: e.type })),
      timersScheduled: timers.map((t) => ({ id: t.id, event: t.event.type, dueAt: t.dueAt })),
      timersCancelled: cancelled,
    },
  };
}
