/**
 * Paths through a saga's statechart, found by xstate's graph traversal (`xstate/graph`), as test cases for the
 * saga test kit: every step an event with data generated from the saga's zod schemas (or a timer to let fire),
 * and the state the path ends in.
 */
import { isDeepStrictEqual } from 'node:util';
import type { AnyMachineSnapshot, EventObject } from 'xstate';
import { getShortestPaths, getSimplePaths } from 'xstate/graph';
import { createEvent } from '../core/events/envelope.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';
import { RESUME_EVENT } from '../core/saga/resume.js';
import { sagaTransitions, traceStep } from '../core/saga/transitions.js';
import { sagaSpec, type SagaSpec } from './saga-spec.js';
import { sampleOf } from './zod-sample.js';

/** One step of a path: a domain event, or a timer of the instance to let fire. */
export type PathStep = { kind: 'event'; type: string; data: Record<string, unknown> } | { kind: 'timer'; type: string };

/** A path from the start of an instance. */
export interface SagaPath {
  /** `task.created → agent.assigned → after slaTimeout`: what the path does, for test names. */
  name: string;
  steps: PathStep[];
  /** The state value the path ends in. */
  state: unknown;
  /** Ids of the transitions the path takes (see `sagaTransitions`). */
  transitions: string[];
}

/** Options of {@link pathsOf}. */
export interface PathsOfOptions {
  /**
   * `covering` (default): few paths that together take every transition the traversal reaches (shortest paths,
   * and each extended by one more event where that takes a transition none took, picked greedily); `shortest`:
   * one shortest path per reachable state; `simple`: every simple path (can be many).
   */
  kind?: 'covering' | 'shortest' | 'simple';
  /** The instance key of the generated events. @default 'k-1' */
  key?: string;
  /** Most states the traversal visits. @default 2000 */
  limit?: number;
}

/** A field of the event data that correlates it with the key: set to the key, `correlate` gives the key back. */
function keyField(saga: SagaDefinition, type: string, data: Record<string, unknown>, key: string): string | undefined {
  const correlate = saga.correlate[type];
  if (!correlate) return undefined;
  return Object.keys(data).find((field) => {
    try {
      return correlate(createEvent({ type, data: { ...data, [field]: key } })) === key;
    } catch {
      return false;
    }
  });
}

/** String values in the context (to depth 3): what guards compare event data with. */
function contextStrings(value: unknown, depth = 0, out = new Set<string>()): Set<string> {
  if (typeof value === 'string' && value !== '') out.add(value);
  else if (value && typeof value === 'object' && depth < 3) for (const v of Object.values(value)) contextStrings(v, depth + 1, out);
  return out;
}

/**
 * The context with its strings blanked and arrays cut to their length: states the traversal treats as one
 * (which ids an agent or a task has does not make a new state; how many joined, or which attempt, does).
 * Without it, every generated value makes a new state and the traversal never ends.
 */
function shapeOf(value: unknown): unknown {
  if (typeof value === 'string') return '';
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shapeOf(v)]));
  return value;
}

interface Candidate extends EventObject {
  type: string;
  data?: Record<string, unknown>;
}

/** The events of one type to try in a state: data sampled from the schema (defaults kept, and minimal), then varied one field at a time over the context's strings. */
function eventsOfType(saga: SagaDefinition, type: string, key: string, context: unknown): Candidate[] {
  const schema = saga.events[type]!;
  const overrides: Record<string, unknown> = type === RESUME_EVENT ? { saga: saga.name, key, reason: 'generated path' } : {};
  const first = sampleOf(schema, overrides);
  const field = keyField(saga, type, first, key);
  const fixed = field ? { ...overrides, [field]: key } : overrides;
  const bases = [sampleOf(schema, fixed), sampleOf(schema, fixed, { defaults: 'minimal' })];
  const out: Candidate[] = bases.map((data) => ({ type, data }));
  const strings = [...contextStrings(context)].slice(0, 8);
  for (const [f, v] of Object.entries(bases[0]!)) {
    if (typeof v !== 'string' || f === field || type === RESUME_EVENT) continue;
    for (const s of strings) {
      if (s === v) continue;
      const variant = { ...bases[0], [f]: s };
      if (schema.safeParse(variant).success) out.push({ type, data: variant });
    }
  }
  const seen = new Set<string>();
  return out.filter((c) => !seen.has(JSON.stringify(c.data)) && Boolean(seen.add(JSON.stringify(c.data))));
}

/** `after` events of the active states: what timers would deliver. */
function timerEvents(snapshot: AnyMachineSnapshot): Candidate[] {
  const nodes = (snapshot as unknown as { _nodes: Array<{ after: Array<{ eventType: string }> }> })._nodes;
  return [...new Set(nodes.flatMap((n) => n.after.map((t) => t.eventType)))].map((type) => ({ type }));
}

/** The events the traversal tries in a state: those the state accepts (guards evaluated). */
function candidates(saga: SagaDefinition, key: string) {
  return (snapshot: AnyMachineSnapshot): Candidate[] => {
    if (snapshot.status !== 'active') return [];
    const types = [...saga.eventTypes].filter((t) => saga.events[t]);
    const all = [...types.flatMap((t) => eventsOfType(saga, t, key, snapshot.context)), ...timerEvents(snapshot), ...[...saga.internalEvents].map((type) => ({ type }))];
    return all.filter((e) => snapshot.can(e as never));
  };
}

function describe(steps: PathStep[]): string {
  return steps.map((s) => (s.kind === 'timer' ? `after ${s.type.replace(/^xstate\.after\.([^.]+)\..*$/, '$1')}` : s.type)).join(' → ');
}

/** Re-runs a path's events to name the transitions it takes (the traversal reports states, not transitions). */
function toPath(saga: SagaDefinition, events: readonly Candidate[], key: string): SagaPath {
  const timerTypes = new Set([...saga.internalEvents]);
  const steps: PathStep[] = events.map((e) =>
    e.type.startsWith('xstate.after.') || timerTypes.has(e.type) ? { kind: 'timer', type: e.type } : { kind: 'event', type: e.type, data: e.data ?? {} },
  );
  let snapshot: AnyMachineSnapshot | undefined;
  const transitions: string[] = [];
  for (const e of events) {
    const trace = traceStep(saga, snapshot, e, key);
    transitions.push(...trace.transitions);
    snapshot = trace.snapshot;
  }
  return { name: describe(steps), steps, state: snapshot?.value, transitions };
}

/** Picks paths greedily until every transition some path takes is taken by a picked one. */
function covering(paths: SagaPath[]): SagaPath[] {
  const left = new Set(paths.flatMap((p) => p.transitions));
  const picked: SagaPath[] = [];
  while (left.size > 0) {
    let best: SagaPath | undefined;
    let gain = 0;
    for (const p of paths) {
      const g = new Set(p.transitions.filter((t) => left.has(t))).size;
      if (g > gain || (g === gain && best && g > 0 && p.steps.length < best.steps.length)) [best, gain] = [p, g];
    }
    if (!best || gain === 0) break;
    picked.push(best);
    for (const t of best.transitions) left.delete(t);
  }
  return picked;
}

/**
 * Paths through `saga`'s statechart from a new instance: each one a list of events (data generated from the
 * saga's zod schemas, correlated to one key, varied over the values in the context so guards can pass) and
 * timers, with the state it ends in and the transitions it takes. Compensation paths and timer (`after`) paths
 * are found like any other. Run one with {@link runPath}.
 *
 * @example
 * for (const path of pathsOf(TaskProcessing)) {
 *   it(path.name, () => runPath(TaskProcessing, path));
 * }
 */
export function pathsOf(saga: SagaDefinition, options: PathsOfOptions = {}): SagaPath[] {
  const key = options.key ?? 'k-1';
  const events = candidates(saga, key);
  const start = saga.startedBy.flatMap((t) => eventsOfType(saga, t, key, {}))[0]!;
  const traversal = {
    events,
    input: { key, event: start },
    limit: options.limit ?? 2000,
    serializeState: (s: AnyMachineSnapshot) => JSON.stringify([s.value, shapeOf(s.context)]),
    serializeEvent: (e: Candidate) => JSON.stringify(e),
  };
  const toPaths = (found: Array<{ steps: Array<{ event: unknown }> }>) =>
    found.map((p) => p.steps.map((s) => s.event as Candidate).filter((e) => !e.type.startsWith('xstate.init'))).filter((evs) => evs.length > 0).map((evs) => toPath(saga, evs, key));
  const shortest = toPaths(getShortestPaths(saga.machine, traversal as never));
  if (options.kind === 'shortest') {
    const byState = new Map<string, SagaPath>();
    for (const p of shortest) {
      const k = JSON.stringify(p.state);
      const seen = byState.get(k);
      if (!seen || p.steps.length < seen.steps.length) byState.set(k, p);
    }
    return [...byState.values()];
  }
  if (options.kind === 'simple') return toPaths(getSimplePaths(saga.machine, traversal as never));
  return covering([...shortest, ...extensions(saga, shortest, events, key)]);
}

/**
 * Every reached state's paths extended by one more accepted event: the transitions that lead back to a state
 * already seen (self-loops, targetless ones such as releasing a second agent), which no shortest path takes.
 */
function extensions(saga: SagaDefinition, paths: readonly SagaPath[], events: (s: AnyMachineSnapshot) => Candidate[], key: string): SagaPath[] {
  const taken = new Set(paths.flatMap((p) => p.transitions));
  const out: SagaPath[] = [];
  for (const path of paths) {
    const replay = path.steps.map((s): Candidate => (s.kind === 'timer' ? { type: s.type } : { type: s.type, data: s.data }));
    let snapshot: AnyMachineSnapshot | undefined;
    for (const e of replay) snapshot = traceStep(saga, snapshot, e, key).snapshot;
    if (!snapshot) continue;
    for (const e of events(snapshot)) {
      const trace = traceStep(saga, snapshot, e, key);
      if (trace.transitions.every((t) => taken.has(t))) continue;
      for (const t of trace.transitions) taken.add(t);
      out.push(toPath(saga, [...replay, e], key));
    }
  }
  return out;
}

/** Transitions of `saga` no path reaches (unreachable with the saga's own events and guards, or beyond `limit`). */
export function unreachableTransitions(saga: SagaDefinition, paths: readonly SagaPath[] = pathsOf(saga)): string[] {
  const taken = new Set(paths.flatMap((p) => p.transitions));
  return sagaTransitions(saga).map((t) => t.id).filter((id) => !taken.has(id));
}

/**
 * Runs a path through the saga test kit (the real runtime, in memory, fake clock): each event with `when`, each
 * timer by advancing the clock to its due time; then checks the state the path ends in. Returns the spec for
 * further checks. Throws when a timer step finds no such timer pending, or the state differs.
 */
export async function runPath(saga: SagaDefinition, path: SagaPath, spec: SagaSpec = sagaSpec(saga)): Promise<SagaSpec> {
  for (const [i, step] of path.steps.entries()) {
    if (step.kind === 'event') {
      await spec.when({ type: step.type, data: step.data });
      continue;
    }
    const timer = i === 0 ? undefined : spec.timers().find((t) => t.event.type === step.type);
    if (!timer) throw new Error(`path "${path.name}", step ${i + 1}: no pending timer ${step.type}`);
    await spec.advanceTime(Math.max(0, new Date(timer.dueAt).getTime() - spec.clock.now().getTime()));
  }
  const state = spec.state();
  if (!isDeepStrictEqual(state, path.state)) throw new Error(`path "${path.name}": ended in ${JSON.stringify(state)}, the statechart says ${JSON.stringify(path.state)}`);
  return spec;
}
