/**
 * A saga machine's transitions as named, countable items, and which of them one step takes: the unit of
 * `pathsOf` (sagaflow/testing) and of `sagaflow test-coverage`. The step is computed as the decider computes
 * it (restore, transition, nothing executed), with xstate's inspection of microsteps naming the transitions
 * taken, eventless (`always`) ones included. Reads xstate internals (state nodes, `_transitions`, `_nodes`):
 * re-run `saga-paths.unit.test.ts` on every xstate bump.
 */
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { inertScope } from './decider.js';
import type { SagaDefinition } from './define-saga.js';

/** One transition of a saga machine. */
export interface SagaTransition {
  /** Stable id: `<source state id> on <event>#<n>` or `<source state id> always#<n>` (n: position in its list). */
  id: string;
  source: string;
  /** Event type; `null` for `always`. `after` transitions have xstate's `xstate.after.<delay>.<state>` type. */
  event: string | null;
  kind: 'event' | 'after' | 'always';
  guard: string | null;
  targets: string[];
}

interface TransitionNode {
  id: string;
  states: Record<string, TransitionNode>;
  transitions: Map<string, TransitionDef[]>;
  always?: TransitionDef[];
}
interface TransitionDef {
  source: TransitionNode;
  eventType: string;
  delay?: unknown;
  guard?: unknown;
  target?: ReadonlyArray<{ id: string }>;
}

function guardName(g: unknown): string | null {
  if (g === undefined || g === null) return null;
  if (typeof g === 'string') return g;
  const t = (g as { type?: unknown }).type;
  return typeof t === 'string' ? t : 'inline';
}

/** The id of a transition definition (see {@link SagaTransition.id}). */
function idOf(t: TransitionDef): string {
  const always = t.source.always ?? [];
  const a = always.indexOf(t);
  if (a >= 0) return `${t.source.id} always#${a}`;
  const list = t.source.transitions.get(t.eventType) ?? [];
  return `${t.source.id} on ${t.eventType}#${list.indexOf(t)}`;
}

/** Every transition of the machine, in document order. */
export function sagaTransitions(saga: SagaDefinition): SagaTransition[] {
  const out: SagaTransition[] = [];
  const visit = (node: TransitionNode): void => {
    for (const [, list] of node.transitions) {
      for (const t of list) {
        out.push({ id: idOf(t), source: node.id, event: t.eventType, kind: t.delay !== undefined ? 'after' : 'event', guard: guardName(t.guard), targets: (t.target ?? []).map((n) => n.id) });
      }
    }
    for (const t of node.always ?? []) out.push({ id: idOf(t), source: node.id, event: null, kind: 'always', guard: guardName(t.guard), targets: (t.target ?? []).map((n) => n.id) });
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(saga.machine.root as unknown as TransitionNode);
  return out;
}

/** Every state id of the machine (the root excluded). */
export function sagaStates(saga: SagaDefinition): string[] {
  const out: string[] = [];
  const visit = (node: TransitionNode, root: boolean): void => {
    if (!root) out.push(node.id);
    for (const child of Object.values(node.states)) visit(child, false);
  };
  visit(saga.machine.root as unknown as TransitionNode, true);
  return out;
}

/** What one step did to the machine. */
export interface StepTrace {
  /** Ids of the transitions taken, in order (eventless ones after the event's). */
  transitions: string[];
  /** Ids of the states the step was in, passed through or ended in (the start's initial states included). */
  states: string[];
  /** The next snapshot (live, not persisted). */
  snapshot: AnyMachineSnapshot;
}

/**
 * The transitions one event takes from `snapshot` (a live snapshot; omit it for the start event, applied to
 * the initial snapshot made with the runtime's input `{ key, event }`), without executing anything.
 */
export function traceStep(saga: SagaDefinition, snapshot: AnyMachineSnapshot | undefined, event: EventObject, key: string): StepTrace {
  const { scope } = inertScope();
  const transitions: string[] = [];
  const states = new Set<string>();
  const nodesOf = (s: unknown) => ((s as { _nodes?: Array<{ id: string }> })._nodes ?? []).map((n) => n.id);
  const subscription = scope.system.inspect((e: { type: string; _transitions?: TransitionDef[]; snapshot?: unknown }) => {
    if (e.type !== '@xstate.microstep') return;
    for (const t of e._transitions ?? []) transitions.push(idOf(t));
    for (const id of nodesOf(e.snapshot)) states.add(id);
  });
  try {
    const from = snapshot ?? (saga.machine.getInitialSnapshot(scope, { key, event }) as AnyMachineSnapshot);
    // The start: initial transitions and entry `always` are not counted; the start event's are.
    transitions.length = 0;
    states.clear();
    for (const id of nodesOf(from)) states.add(id);
    const next = saga.machine.transition(from, event, scope) as AnyMachineSnapshot;
    for (const id of nodesOf(next)) states.add(id);
    const rootId = (saga.machine.root as unknown as { id: string }).id;
    return { transitions, states: [...states].filter((id) => id !== rootId), snapshot: next };
  } finally {
    subscription.unsubscribe();
  }
}
