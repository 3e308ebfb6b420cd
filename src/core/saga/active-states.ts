import type { SagaGraph } from './graph.js';

/**
 * The active states of an xstate state value as dotted paths of state keys, parents before children:
 * `"paid"` → `["paid"]`; `{ compensating: "awaitingReply" }` → `["compensating", "compensating.awaitingReply"]`.
 */
export function activeStatePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix + value];
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => [prefix + key, ...activeStatePaths(child, `${prefix}${key}.`)]);
}

/** Each state of the graph (the root left out) by its dotted path of keys, as {@link activeStatePaths} names them. */
export function statesByPath(graph: SagaGraph): Map<string, SagaGraph['nodes'][number]> {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const pathOf = (id: string | null): string[] => {
    const node = id === null ? undefined : byId.get(id);
    return node && node.parent !== null ? [...pathOf(node.parent), node.key] : [];
  };
  return new Map(graph.nodes.filter((n) => n.parent !== null).map((n) => [pathOf(n.id).join('.'), n]));
}

/** The tags of the states active in `value`, from the saga's graph (a snapshot as stored does not keep them). */
export function activeTags(graph: SagaGraph, value: unknown): string[] {
  const states = statesByPath(graph);
  return [...new Set(activeStatePaths(value).flatMap((p) => states.get(p)?.tags ?? []))].sort();
}
