/**
 * Definition-time checks of a saga's machine that need more than a glance at its config: actions that
 * would never run on the durable path, and start events the initial state does not take. Both read the
 * machine's state nodes (xstate's `StateNode`), which are internals: re-run `saga-define.unit.test.ts`
 * on every xstate bump (see XSTATE-DURABLE.md).
 */
import type { AnyStateMachine } from 'xstate';
import { SagaDefinitionError } from '../errors.js';

/** The parts of xstate's `TransitionDefinition` these checks read. */
export interface TransitionLike {
  eventType: string | null;
  actions: readonly unknown[];
  target?: readonly StateNodeLike[];
  /** Set on `after` transitions: the delay as written (a name or a number). */
  delay?: unknown;
}

/** The parts of xstate's `StateNode` these checks read. */
export interface StateNodeLike {
  id: string;
  key: string;
  path: readonly string[];
  type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  parent?: StateNodeLike;
  config: { invoke?: unknown; after?: Record<string, unknown> };
  states: Record<string, StateNodeLike>;
  transitions: Map<string, TransitionLike[]>;
  after: TransitionLike[];
  always?: TransitionLike[];
  initial: TransitionLike;
  entry: readonly unknown[];
  exit: readonly unknown[];
}

/** Calls `visit` on `node` and every state below it, parents first. */
export function walkStates(node: StateNodeLike, visit: (n: StateNodeLike) => void): void {
  visit(node);
  for (const child of Object.values(node.states)) walkStates(child, visit);
}

/** `Machine.a.b`: the machine id and the keys down to the state (its default id, whatever `id` it was given). */
function statePath(node: StateNodeLike): string {
  let root = node;
  while (root.parent) root = root.parent;
  return [root.id, ...node.path].join('.');
}

/** Every action of a state with where it sits: entry, exit, initial, each transition (`on`, `after`, `always`, `onDone`). */
function actionSites(node: StateNodeLike): Array<{ where: string; action: unknown }> {
  const sites: Array<{ where: string; action: unknown }> = [];
  const add = (where: string, actions: readonly unknown[]) => {
    for (const action of actions) sites.push({ where, action });
  };
  add('entry', node.entry);
  add('exit', node.exit);
  if (node.type === 'compound') add('initial transition', node.initial.actions);
  for (const [descriptor, list] of node.transitions) {
    for (const t of list) {
      if (t.delay !== undefined) add(`after "${String(t.delay)}" transition`, t.actions);
      else if (descriptor.startsWith('xstate.done.state.')) add('onDone transition', t.actions);
      else add(`transition on "${descriptor}"`, t.actions);
    }
  }
  for (const t of node.always ?? []) add('always transition', t.actions);
  return sites;
}

/**
 * xstate's own test (`resolveAndExecuteActionsWithContext`): a built-in action (assign, emit, raise, sendTo,
 * cancel, log, enqueueActions, spawnChild, stopChild) is a function with a `resolve` method, which the
 * transition calls to compute its effect as data. Anything else is handed to the actor's executor to run
 * as code, which the durable path never does.
 */
function isBuiltIn(fn: unknown): boolean {
  return typeof fn === 'function' && 'resolve' in fn;
}

/** Why `action` would never do anything on the durable path, or undefined when it is fine. */
function deadActionProblem(action: unknown, implementations: Record<string, unknown>): { action: string; problem: string } | undefined {
  if (typeof action === 'function') {
    if (isBuiltIn(action)) return undefined;
    const named = action.name && !['entry', 'exit', 'actions'].includes(action.name) ? ` (${action.name})` : '';
    return { action: action.name || '(anonymous)', problem: `an inline function${named}, which` };
  }
  const type = typeof action === 'string' ? action : (action as { type?: unknown } | null)?.type;
  if (typeof type !== 'string') return undefined;
  const impl = implementations[type];
  if (impl === undefined) return { action: type, problem: `"${type}", which has no implementation in setup({ actions }) and` };
  if (typeof impl === 'function' && !isBuiltIn(impl)) return { action: type, problem: `"${type}", a plain function in setup({ actions }), which` };
  return undefined;
}

/**
 * Rejects every action that is code rather than a description: an inline function, or a name whose
 * implementation in `setup({ actions })` is a plain function (or missing). The decider records what a
 * transition resolves and never executes it (ADR 0005), so such an action silently does nothing.
 * Built-in action creators are fine, and so is `enqueueActions` (what its callback enqueues cannot be
 * seen before it runs: enqueue built-ins only).
 */
export function checkDurableActions(sagaName: string, machine: AnyStateMachine): void {
  const implementations = ((machine.implementations as { actions?: Record<string, unknown> }).actions ?? {}) as Record<string, unknown>;
  walkStates(machine.root as unknown as StateNodeLike, (node) => {
    for (const { where, action } of actionSites(node)) {
      const found = deadActionProblem(action, implementations);
      if (!found) continue;
      throw new SagaDefinitionError(
        sagaName,
        `${where} action ${found.problem} would never run: sagaflow records a transition's actions as data and does not execute code. ` +
          'Describe the effect instead: emit(...) a command event for work outside the saga (its reply comes back as an event), or assign(...) to change context',
        { state: statePath(node), details: { action: found.action, where } },
      );
    }
  });
}

/** xstate's `matchesEventDescriptor`: exact, `*`, or a trailing `prefix.*` wildcard. */
function matchesDescriptor(type: string, descriptor: string): boolean {
  if (descriptor === type || descriptor === '*') return true;
  if (!descriptor.endsWith('.*')) return false;
  const prefix = descriptor.slice(0, -2).split('.');
  const tokens = type.split('.');
  return prefix.every((token, i) => tokens[i] === token);
}

/**
 * Adds the states entered below `node`: the initial child of a compound state, every region of a parallel
 * one; a history state (never visited before the start) enters its parent's initial states.
 */
function addInitialDescendants(node: StateNodeLike, into: Set<StateNodeLike>): void {
  const from = node.type === 'history' && node.parent ? node.parent : node;
  const children = from.type === 'parallel' ? Object.values(from.states) : from.type === 'compound' ? (from.initial.target ?? []) : [];
  for (const child of children) {
    if (into.has(child)) continue;
    into.add(child);
    addInitialDescendants(child, into);
  }
}

/**
 * The states the machine may be in when the start event arrives: the initial configuration (initial
 * children, every parallel region, with their ancestors) and, since eventless `always` transitions are
 * taken before any event, every configuration they can reach. Their guards read context (and the start
 * event, which a definition does not have), so every `always` target counts: the check is lenient there.
 */
function possibleStartStates(root: StateNodeLike): Set<StateNodeLike> {
  const states = new Set<StateNodeLike>([root]);
  addInitialDescendants(root, states);
  const queue = [...states];
  for (let node = queue.shift(); node; node = queue.shift()) {
    for (const t of node.always ?? []) {
      for (const target of t.target ?? []) {
        if (states.has(target)) continue;
        const entered = new Set<StateNodeLike>([target]);
        for (let p = target.parent; p; p = p.parent) entered.add(p);
        addInitialDescendants(target, entered);
        for (const s of entered) {
          if (states.has(s)) continue;
          states.add(s);
          queue.push(s);
        }
      }
    }
  }
  return states;
}

/**
 * Rejects a `startedBy` type that no possible start state has a transition for. The runtime starts an
 * instance by applying the start event to the machine's initial snapshot and refuses it when
 * `snapshot.can(event)` is false (`decider.ts`). `can` evaluates guards with the event's data and needs the
 * context factory's `input`, neither of which exists at definition time, so this check is structural: a
 * transition (with a target or actions, as `can` counts them) for the type, or a wildcard matching it, in
 * one of those states or an ancestor. A guard that refuses the start event still surfaces at run time.
 */
export function checkStartEvents(sagaName: string, machine: AnyStateMachine, startedBy: readonly string[]): void {
  const states = possibleStartStates(machine.root as unknown as StateNodeLike);
  const accepts = (type: string) =>
    [...states].some((node) =>
      [...node.transitions].some(([descriptor, list]) => matchesDescriptor(type, descriptor) && list.some((t) => t.target !== undefined || t.actions.length > 0)),
    );
  for (const type of startedBy) {
    if (accepts(type)) continue;
    const leaves = [...states].filter((s) => s.type === 'atomic' || s.type === 'final').map(statePath);
    throw new SagaDefinitionError(
      sagaName,
      `startedBy "${type}" is not accepted by the initial state: neither it, its initial children nor its ancestors have a transition for "${type}". ` +
        `Handle it there (on: { '${type}': ... }) or remove it from startedBy`,
      { state: leaves.join(', ') || statePath(machine.root as unknown as StateNodeLike), details: { event: type } },
    );
  }
}
