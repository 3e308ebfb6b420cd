// The statechart of a saga as nested boxes, built from GET /v1/definitions/:saga (src/core/saga/graph.ts):
// compound states contain their children, each state lists its transitions, the active states are highlighted,
// and the transitions the current state waits for (`accepts` of /why) are marked as awaited.

/** Paths (`a/b`) of the states active in an xstate state value (`"a"`, `{ a: "b" }`, `{ p: { x: "y", z: "w" } }`). */
export function activePaths(value, prefix = '') {
  if (typeof value === 'string') return [prefix + value];
  if (!value || typeof value !== 'object') return [];
  const out = [];
  for (const [key, child] of Object.entries(value)) {
    out.push(prefix + key);
    out.push(...activePaths(child, `${prefix}${key}/`));
  }
  return out;
}

function el(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Renders `graph` with the states of `stateValue` active; `accepts`: event types the instance waits for. */
export function renderStatechart(graph, stateValue, accepts = []) {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const children = new Map();
  for (const n of graph.nodes) if (n.parent) children.set(n.parent, [...(children.get(n.parent) ?? []), n]);
  const pathOf = (n) => (n.parent ? [...pathOf(byId.get(n.parent)).filter(Boolean), n.key] : []);
  const active = new Set(activePaths(stateValue));
  const awaited = new Set(accepts);
  const edgesFrom = new Map();
  for (const e of graph.edges) edgesFrom.set(e.source, [...(edgesFrom.get(e.source) ?? []), e]);

  const box = (node) => {
    const path = pathOf(node).join('/');
    const isActive = active.has(path);
    const b = el('div', `state ${node.type}${isActive ? ' active' : ''}`);
    b.dataset.state = path;
    if (isActive) b.dataset.active = 'true';
    const title = el('div', 'state-title', node.key);
    for (const tag of node.tags) title.append(el('span', 'tag', tag));
    b.append(title);
    const edges = edgesFrom.get(node.id) ?? [];
    if (edges.length > 0) {
      const list = el('ul', 'edges');
      for (const e of edges) {
        const label = e.kind === 'after' ? `after ${e.delay}` : e.kind === 'always' ? 'always' : e.event;
        const target = e.target ? byId.get(e.target)?.key ?? e.target : '(stays)';
        const li = el('li', 'edge', `${label}${e.guard ? ` [${e.guard}]` : ''} → ${target}`);
        if (isActive && e.event && awaited.has(e.event)) {
          li.classList.add('awaited');
          li.title = 'the instance waits for this';
        }
        list.append(li);
      }
      b.append(list);
    }
    const kids = children.get(node.id) ?? [];
    if (kids.length > 0) {
      const inner = el('div', 'children');
      for (const k of kids) inner.append(box(k));
      b.append(inner);
    }
    return b;
  };

  const root = graph.nodes.find((n) => n.parent === null);
  const figure = el('figure', 'statechart');
  figure.append(el('figcaption', '', `${graph.id} — active: ${[...active].join(', ') || '(none)'}`));
  const top = el('div', 'children top');
  for (const k of children.get(root?.id) ?? []) top.append(box(k));
  figure.append(top);
  return figure;
}
