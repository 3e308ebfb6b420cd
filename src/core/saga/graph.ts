/**
 * A saga machine as a graph: a JSON form (nodes and edges) for tools and the HTTP API, and Mermaid
 * `stateDiagram-v2` text for READMEs and `sagaflow graph`. Built by walking `machine.root`
 * (states, `on`, `after`, `always`); xstate ships no Mermaid exporter (XSTATE-DURABLE.md, trap 17).
 */
import type { AnyStateMachine } from 'xstate';

/** Kind of a state node, as xstate names it. */
export type SagaGraphNodeType = 'atomic' | 'compound' | 'parallel' | 'final' | 'history';

/** One state. */
export interface SagaGraphNode {
  /** Full xstate id, e.g. `TaskProcessing.active.awaitingAssignment`. */
  id: string;
  /** Key within its parent, e.g. `awaitingAssignment`. */
  key: string;
  /** Parent id; `null` for the root. */
  parent: string | null;
  type: SagaGraphNodeType;
  /** Id of the initial child (compound states). */
  initial: string | null;
  tags: string[];
  /** Named entry actions (built-ins as their type, e.g. `xstate.raise`). */
  entry: string[];
}

/** How an edge is taken. */
export const SagaGraphEdgeKind = { Event: 'event', After: 'after', Always: 'always' } as const;
export type SagaGraphEdgeKind = (typeof SagaGraphEdgeKind)[keyof typeof SagaGraphEdgeKind];

/** One transition. A transition with several targets (parallel) gives one edge per target. */
export interface SagaGraphEdge {
  source: string;
  /** Target state id; `null` for a targetless transition (actions only, state unchanged). */
  target: string | null;
  kind: SagaGraphEdgeKind;
  /** Event type (for `after` edges, xstate's `xstate.after.<delay>.<state>` event). */
  event: string | null;
  /** Named delay (or the number) of an `after` edge. */
  delay: string | null;
  /** Guard name, if any. */
  guard: string | null;
  actions: string[];
  /** True for `reenter: true` transitions. */
  reenter: boolean;
}

/** A saga machine as data. */
export interface SagaGraph {
  /** Machine id (the root node's id). */
  id: string;
  nodes: SagaGraphNode[];
  edges: SagaGraphEdge[];
}

interface TransitionLike {
  target?: ReadonlyArray<{ id: string }> | undefined;
  guard?: unknown;
  actions: readonly unknown[];
  delay?: unknown;
  reenter?: boolean;
  eventType?: string | null;
}

interface NodeLike {
  id: string;
  key: string;
  type: SagaGraphNodeType;
  parent?: NodeLike | undefined;
  initial?: { target?: ReadonlyArray<{ id: string }> } | undefined;
  tags: readonly string[] | ReadonlySet<string>;
  entry: readonly unknown[];
  states: Record<string, NodeLike>;
  transitions: Map<string, TransitionLike[]>;
  after: TransitionLike[];
  always?: TransitionLike[] | undefined;
}

function nameOf(x: unknown): string {
  if (typeof x === 'string') return x;
  if (typeof x === 'function') {
    const t = (x as { type?: unknown }).type;
    if (typeof t === 'string') return t;
    return x.name || 'inline';
  }
  if (x !== null && typeof x === 'object') {
    const t = (x as { type?: unknown }).type;
    if (typeof t === 'string') return t;
  }
  return 'inline';
}

function guardOf(t: TransitionLike): string | null {
  return t.guard === undefined || t.guard === null ? null : nameOf(t.guard);
}

function edgesOf(source: NodeLike, kind: SagaGraphEdgeKind, t: TransitionLike, event: string | null): SagaGraphEdge[] {
  const base = {
    source: source.id,
    kind,
    event,
    delay: kind === SagaGraphEdgeKind.After ? String(t.delay) : null,
    guard: guardOf(t),
    actions: t.actions.map(nameOf),
    reenter: t.reenter === true,
  };
  const targets = t.target ?? [];
  if (targets.length === 0) return [{ ...base, target: null }];
  return targets.map((n) => ({ ...base, target: n.id }));
}

/**
 * The machine's states and transitions as JSON-native data, in document order.
 *
 * @example
 * const g = sagaGraph(TaskProcessing.machine);
 * g.edges.filter((e) => e.kind === 'after'); // durable timers
 */
export function sagaGraph(machine: AnyStateMachine): SagaGraph {
  const root = machine.root as unknown as NodeLike;
  const nodes: SagaGraphNode[] = [];
  const edges: SagaGraphEdge[] = [];
  const visit = (node: NodeLike): void => {
    nodes.push({
      id: node.id,
      key: node.key,
      parent: node.parent ? node.parent.id : null,
      type: node.type,
      initial: node.initial?.target?.[0]?.id ?? null,
      tags: [...node.tags],
      entry: node.entry.map(nameOf),
    });
    for (const [event, list] of node.transitions) {
      for (const t of list) {
        // `after` transitions also appear in `transitions` under their xstate.after.* event: listed below instead.
        if (t.delay !== undefined) continue;
        edges.push(...edgesOf(node, SagaGraphEdgeKind.Event, t, event));
      }
    }
    for (const t of node.after) edges.push(...edgesOf(node, SagaGraphEdgeKind.After, t, t.eventType ?? null));
    for (const t of node.always ?? []) edges.push(...edgesOf(node, SagaGraphEdgeKind.Always, t, null));
    for (const child of Object.values(node.states)) visit(child);
  };
  visit(root);
  return { id: root.id, nodes, edges };
}

/** Options of {@link sagaMermaid}. */
export interface SagaMermaidOptions {
  /** Show guards as `[guard]` on edge labels. @default true */
  guards?: boolean;
  /** Show actions as `/ a, b` on edge labels. @default false */
  actions?: boolean;
  /** Show targetless transitions as self-loops. @default true */
  targetless?: boolean;
}

/** A Mermaid-safe id for a state id (`TaskProcessing.active` → `active`, nested ids joined with `_`). */
function mermaidId(graph: SagaGraph, id: string): string {
  const rel = id === graph.id ? 'root' : id.startsWith(`${graph.id}.`) ? id.slice(graph.id.length + 1) : id;
  return rel.replace(/[^A-Za-z0-9_]/g, '_');
}

function labelText(text: string): string {
  // Mermaid ends a label at a newline and treats ';' as a statement separator.
  return text.replace(/[\r\n;]+/g, ' ');
}

function edgeLabel(e: SagaGraphEdge, o: Required<SagaMermaidOptions>): string {
  // `onDone` of a compound or parallel state is xstate's `xstate.done.state.<id>` event: shown as `done`.
  const event = e.event?.startsWith('xstate.done.state.') ? 'done' : (e.event ?? '');
  let label = e.kind === 'after' ? `after ${e.delay ?? ''}` : e.kind === 'always' ? 'always' : event;
  if (o.guards && e.guard) label += ` [${e.guard}]`;
  if (o.actions && e.actions.length > 0) label += ` / ${e.actions.join(', ')}`;
  return labelText(label.trim());
}

/**
 * Mermaid `stateDiagram-v2` text of a saga machine: compound states as nested blocks, `[*] -->` for initial
 * states, `--> [*]` for final ones, `after <delay>` and `always` edges, guards in brackets, tags in state labels.
 *
 * @example
 * writeFileSync('diagram.mmd', sagaMermaid(TaskProcessing.machine));
 */
export function sagaMermaid(machine: AnyStateMachine, options: SagaMermaidOptions = {}): string {
  const o: Required<SagaMermaidOptions> = { guards: options.guards ?? true, actions: options.actions ?? false, targetless: options.targetless ?? true };
  const graph = sagaGraph(machine);
  const children = new Map<string, SagaGraphNode[]>();
  for (const n of graph.nodes) {
    if (n.parent === null) continue;
    const list = children.get(n.parent) ?? [];
    list.push(n);
    children.set(n.parent, list);
  }
  const lines: string[] = ['stateDiagram-v2'];
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const block = (parentId: string, indent: string): void => {
    const parent = byId.get(parentId);
    if (parent?.initial) lines.push(`${indent}[*] --> ${mermaidId(graph, parent.initial)}`);
    const kids = children.get(parentId) ?? [];
    for (const [i, n] of kids.entries()) {
      // The regions of a parallel state are separated by `--` (Mermaid's concurrency separator).
      if (parent?.type === 'parallel' && i > 0) lines.push(`${indent}--`);
      const id = mermaidId(graph, n.id);
      const label = n.tags.length > 0 ? `${n.key} (${n.tags.join(', ')})` : n.key;
      lines.push(`${indent}state "${labelText(label)}" as ${id}`);
      if ((children.get(n.id) ?? []).length > 0) {
        lines.push(`${indent}state ${id} {`);
        block(n.id, `${indent}  `);
        lines.push(`${indent}}`);
      }
      if (n.type === 'final') lines.push(`${indent}${id} --> [*]`);
    }
  };
  block(graph.id, '  ');
  for (const e of graph.edges) {
    if (e.target === null && !o.targetless) continue;
    const src = mermaidId(graph, e.source);
    const tgt = mermaidId(graph, e.target ?? e.source);
    const label = edgeLabel(e, o);
    lines.push(label ? `  ${src} --> ${tgt} : ${label}` : `  ${src} --> ${tgt}`);
  }
  return `${lines.join('\n')}\n`;
}
