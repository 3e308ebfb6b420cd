import type { AnyStateMachine } from 'xstate';
import { SagaDefinitionError } from '../errors.js';
import type { OnMissing, SagaConfig } from './definition.js';
import { checkDurableActions, checkStartEvents, walkStates as walk, type StateNodeLike } from './machine-checks.js';
import { RESUME_EVENT, resumeEventSchema } from './resume.js';
import type { EventEnvelope } from '../events/envelope.js';

/** A checked saga definition, as the runtime uses it. Build with {@link defineSaga}. */
export interface SagaDefinition<TMachine extends AnyStateMachine = AnyStateMachine> extends Readonly<SagaConfig<TMachine>> {
  readonly onMissing: OnMissing;
  /** Declared (domain) event types, i.e. the keys of `events`. */
  readonly eventTypes: ReadonlySet<string>;
  /** Event types the machine raises to itself (delayed raises); they arrive through timers, never from the bus. */
  readonly internalEvents: ReadonlySet<string>;
  /** Marks the object as checked. */
  readonly defined: true;
  /**
   * Every loaded version of this saga by number, on the newest one, when several are loaded side by side
   * (set by `combineVersions`, see `versions.ts`); undefined on a plain `defineSaga` result.
   */
  readonly versions?: ReadonlyMap<number, SagaDefinition>;
}

/** Options of {@link defineSaga}. */
export interface DefineSagaOptions {
  /**
   * Numeric `after` delays (`after: { 1000: ... }`) put the number into the timer id, so stored timers are
   * orphaned when it changes. Rejected unless this is true. @default false
   */
  allowNumericDelays?: boolean;
}

interface RaiseLike {
  type: 'xstate.raise';
  event: unknown;
  id: unknown;
  delay: unknown;
}

function isRaise(a: unknown): a is RaiseLike {
  return typeof a === 'function' && (a as { type?: unknown }).type === 'xstate.raise';
}

function actionsOf(node: StateNodeLike): unknown[] {
  const out: unknown[] = [...node.entry, ...node.exit];
  for (const list of node.transitions.values()) for (const t of list) out.push(...t.actions);
  for (const t of node.after) out.push(...t.actions);
  for (const t of node.always ?? []) out.push(...t.actions);
  return out;
}

/**
 * Checks a saga and returns its definition. Every problem is a {@link SagaDefinitionError} naming the saga
 * and, where it applies, the state:
 * - an event handled in `on` that is neither declared in `events` nor raised by the machine itself;
 * - a declared event with no `correlate` function; a `startedBy` type that is not declared;
 * - a delayed `raise` without an `id` (it could never be cancelled);
 * - an `after` delay name missing from `setup({ delays })`, or a numeric `after` delay;
 * - an `invoke` (not durable: emit a command and wait for its reply event instead);
 * - an action that is code, not a description: an inline function, or a named action whose `setup({ actions })`
 *   implementation is a plain function or missing. The decider records actions and never runs them, so it
 *   would silently do nothing; use built-ins (`emit` a command event, `assign` context, `raise`, `cancel`,
 *   `enqueueActions` of built-ins);
 * - a `startedBy` type the initial state does not take: no transition for it (or a wildcard) in the initial
 *   state, its initial children, the states its `always` transitions reach, or their ancestors. Guards are not
 *   evaluated (they need the event's data): a guard that refuses the start event still fails at run time.
 *
 * @example
 * export const Payment = defineSaga({
 *   name: 'Payment', version: 1, machine,
 *   events: { 'payment.requested': z.object({ paymentId: z.string() }) },
 *   correlate: { 'payment.requested': (e) => String(e.data.paymentId) },
 *   startedBy: ['payment.requested'],
 * });
 */
export function defineSaga<TMachine extends AnyStateMachine>(config: SagaConfig<TMachine>, options: DefineSagaOptions = {}): SagaDefinition<TMachine> {
  const name = config.name;
  if (typeof name !== 'string' || !/^[A-Za-z][A-Za-z0-9_.-]{0,99}$/.test(name)) {
    throw new SagaDefinitionError(String(name), 'name must start with a letter and use letters, digits, _ . - (at most 100 characters)');
  }
  if (!Number.isInteger(config.version) || config.version < 1) {
    throw new SagaDefinitionError(name, `version must be a positive integer, got ${String(config.version)}`);
  }
  const eventTypes = new Set(Object.keys(config.events));
  for (const type of eventTypes) {
    if (typeof config.correlate[type] !== 'function') {
      throw new SagaDefinitionError(name, `event "${type}" is declared in events but has no correlate function`, { details: { event: type } });
    }
  }
  for (const type of Object.keys(config.correlate)) {
    if (!eventTypes.has(type)) throw new SagaDefinitionError(name, `correlate has "${type}", which is not declared in events`, { details: { event: type } });
  }
  for (const [from, fn] of Object.entries(config.migrateFrom ?? {})) {
    if (!/^\d+$/.test(from) || Number(from) < 1 || Number(from) >= config.version) {
      throw new SagaDefinitionError(name, `migrateFrom has key "${from}": keys are older versions of this saga (1..${config.version - 1})`, { details: { from } });
    }
    if (typeof fn !== 'function') throw new SagaDefinitionError(name, `migrateFrom[${from}] must be a function (snapshot) => snapshot`, { details: { from } });
  }
  if (config.context !== undefined && typeof (config.context as { safeParse?: unknown }).safeParse !== 'function') {
    throw new SagaDefinitionError(name, 'context must be a zod schema');
  }
  if (config.startedBy.length === 0) throw new SagaDefinitionError(name, 'startedBy must name at least one event type');
  for (const type of config.startedBy) {
    if (!eventTypes.has(type)) throw new SagaDefinitionError(name, `startedBy "${type}" is not declared in events`, { details: { event: type } });
  }

  const root = config.machine.root as unknown as StateNodeLike;
  const delays = (config.machine.implementations as { delays?: Record<string, unknown> }).delays ?? {};
  const internal = new Set<string>();
  walk(root, (node) => {
    if (node.config.invoke !== undefined) {
      throw new SagaDefinitionError(name, 'invoke is not durable: emit a command and wait for its reply event instead', { state: node.id });
    }
    for (const delay of Object.keys(node.config.after ?? {})) {
      if (/^\d+$/.test(delay)) {
        if (!options.allowNumericDelays) {
          throw new SagaDefinitionError(name, `after delay ${delay} is numeric; name it in setup({ delays }) so stored timers survive a change of value`, { state: node.id });
        }
      } else if (!(delay in delays)) {
        throw new SagaDefinitionError(name, `after delay "${delay}" is not defined in setup({ delays }); known: ${Object.keys(delays).join(', ') || '(none)'}`, { state: node.id });
      }
    }
    for (const action of actionsOf(node)) {
      if (!isRaise(action) || action.delay === undefined) continue;
      if (action.id === undefined) {
        throw new SagaDefinitionError(name, 'a delayed raise has no id; give it one (raise(event, { id, delay })) so it can be stored and cancelled', { state: node.id });
      }
      if (typeof action.delay === 'string' && !(action.delay in delays)) {
        throw new SagaDefinitionError(name, `delayed raise "${String(action.id)}" uses delay "${action.delay}", which is not defined in setup({ delays })`, { state: node.id });
      }
      const ev = action.event as { type?: unknown } | undefined;
      if (ev && typeof ev === 'object' && typeof ev.type === 'string' && !ev.type.startsWith('xstate.')) internal.add(ev.type);
    }
  });
  checkDurableActions(name, config.machine);
  checkStartEvents(name, config.machine, config.startedBy);
  let resumable = false;
  walk(root, (node) => {
    for (const type of node.transitions.keys()) {
      if (type === RESUME_EVENT) resumable = true;
      if (type.startsWith('xstate.') || type === '*' || eventTypes.has(type) || internal.has(type) || type === RESUME_EVENT) continue;
      throw new SagaDefinitionError(name, `handles event "${type}", which is not declared in events (and not raised by the machine)`, { state: node.id, details: { event: type } });
    }
  });

  // A saga that handles the operator's resume gets it declared, correlated by the key it names.
  if (resumable) eventTypes.add(RESUME_EVENT);
  // A spread of another definition (`{ ...V1, version: 2 }`) must not carry its combined versions along.
  const { versions: _versions, ...plain } = config as SagaConfig<TMachine> & { versions?: unknown };
  return Object.freeze({
    ...plain,
    ...(resumable
      ? {
          events: { ...config.events, [RESUME_EVENT]: resumeEventSchema },
          correlate: { ...config.correlate, [RESUME_EVENT]: (e: EventEnvelope) => String(e.data.key) },
        }
      : {}),
    onMissing: config.onMissing ?? 'dead-letter',
    eventTypes,
    internalEvents: internal,
    defined: true as const,
  });
}
