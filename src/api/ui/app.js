// The sagaflow dashboard: a static page over the daemon's JSON API (/v1) and its WebSocket (/ws), no framework,
// nothing from another origin. Data is rendered as text nodes only (never as HTML).
import { renderStatechart } from './graph.js';

const STATUSES = ['running', 'completed', 'compensating', 'compensated', 'failed', 'suspended'];
const view = document.getElementById('view');
let token = localStorage.getItem('sagaflow.token') ?? '';

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(e.dataset, v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null) e.append(c instanceof Node ? c : String(c));
  return e;
}
const stateText = (s) => (typeof s === 'string' ? s : JSON.stringify(s));
const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
const enc = encodeURIComponent;

function notice(text, kind = 'info') {
  const n = document.getElementById('notice');
  n.textContent = text;
  n.className = kind;
}

async function api(method, path, body, reason) {
  const res = await fetch(path, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body ? { 'content-type': 'application/json' } : {}),
      // Every change carries its reason (percent-encoded) for the audit log.
      ...(reason ? { 'x-sagaflow-reason': encodeURIComponent(reason) } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const json = await res.json().catch(() => ({}));
  if (res.status === 401) showTokenForm();
  if (!res.ok) throw new Error(`${json.code ?? res.status}: ${json.message ?? res.statusText}`);
  return json;
}

function showTokenForm() {
  const form = document.getElementById('token-form');
  form.hidden = false;
  document.getElementById('token-input').focus();
}

// ---- live updates: one WebSocket, re-subscribed to the current view's patterns after every reconnect ----
const live = { ws: undefined, patterns: [], onMessage: () => {}, retry: 500 };

function setLive(on) {
  const indicator = document.getElementById('live');
  indicator.dataset.live = on ? 'on' : 'off';
  indicator.textContent = on ? 'live' : 'live: off';
}

function connectLive() {
  if (!token) return;
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const bytes = new TextEncoder().encode(token);
  const b64url = btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  const ws = new WebSocket(url, ['sagaflow.v1', `sagaflow.token.${b64url}`]);
  live.ws = ws;
  ws.onopen = () => {
    live.retry = 500;
    if (live.patterns.length > 0) ws.send(JSON.stringify({ op: 'subscribe', id: 'view', patterns: live.patterns }));
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === 'subscribed') setLive(true);
    else if (msg.type === 'error') notice(`live: ${msg.message}`, 'error');
    else live.onMessage(msg);
  };
  ws.onclose = () => {
    setLive(false);
    if (live.ws !== ws) return;
    live.ws = undefined;
    setTimeout(connectLive, live.retry);
    live.retry = Math.min(live.retry * 2, 10_000);
  };
}

/** Follows `patterns` for the current view; `onMessage` gets each event or transition. */
function follow(patterns, onMessage) {
  const old = live.patterns;
  live.patterns = patterns;
  live.onMessage = onMessage;
  const ws = live.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return;
  if (old.length > 0) ws.send(JSON.stringify({ op: 'unsubscribe', patterns: old }));
  if (patterns.length > 0) ws.send(JSON.stringify({ op: 'subscribe', id: 'view', patterns }));
}

/** Runs `fn` at most once per `ms` after a burst of calls. */
function debounce(fn, ms = 250) {
  let t;
  return () => {
    clearTimeout(t);
    t = setTimeout(fn, ms);
  };
}

/** Asks for a reason, then runs an operator action and refreshes. */
async function act(what, path, body, refresh) {
  const reason = prompt(`Reason for ${what} (recorded with the action):`);
  if (reason === null) return;
  if (!reason.trim()) return notice(`${what}: a reason is required`, 'error');
  try {
    await api('POST', path, body, reason);
    notice(`${what}: done`, 'ok');
  } catch (err) {
    notice(`${what} failed: ${err.message}`, 'error');
  }
  await refresh();
}

// ---- views ----
async function sagaList(params) {
  const saga = params.get('saga') ?? '';
  const status = params.get('status') ?? '';
  const go = (s, st) => (location.hash = `#/sagas?${new URLSearchParams({ ...(s ? { saga: s } : {}), ...(st ? { status: st } : {}) })}`);
  const { sagas } = await api('GET', '/v1/status');
  const sagaSelect = el('select', { name: 'saga', onchange: (e) => go(e.target.value, status) }, el('option', { value: '' }, 'all sagas'),
    sagas.map((s) => el('option', { value: s, selected: s === saga }, s)));
  const statusSelect = el('select', { name: 'status', onchange: (e) => go(saga, e.target.value) }, el('option', { value: '' }, 'any status'),
    STATUSES.map((s) => el('option', { value: s, selected: s === status }, s)));
  const counts = el('div', { class: 'counts' });
  const rows = el('tbody');
  view.replaceChildren(el('h1', {}, 'Sagas'), el('div', { class: 'filters' }, sagaSelect, statusSelect), counts,
    el('table', { class: 'list' }, el('thead', {}, el('tr', {}, ['Saga', 'Key', 'Status', 'State', 'Updated'].map((c) => el('th', {}, c)))), rows));

  const refresh = async () => {
    const q = new URLSearchParams({ ...(saga ? { saga } : {}), ...(status ? { status } : {}), limit: '200' });
    const [c, list] = await Promise.all([api('GET', `/v1/sagas/counts${saga ? `?saga=${enc(saga)}` : ''}`), api('GET', `/v1/sagas?${q}`)]);
    counts.replaceChildren(el('span', { class: 'count total' }, `${c.total} total`),
      ...STATUSES.map((s) => el('a', { class: `count status-${s}${s === status ? ' selected' : ''}`, href: '#', dataset: { status: s, count: c.byStatus[s] },
        onclick: (e) => { e.preventDefault(); go(saga, s === status ? '' : s); } }, `${s} ${c.byStatus[s]}`)));
    rows.replaceChildren(...list.map((i) => el('tr', { dataset: { key: i.key } },
      el('td', {}, i.saga), el('td', {}, el('a', { href: `#/saga/${enc(i.saga)}/${enc(i.key)}` }, i.key)),
      el('td', {}, el('span', { class: `badge status-${i.status}` }, i.status)), el('td', { class: 'mono' }, stateText(i.state)), el('td', {}, when(i.updatedAt)))));
    if (list.length === 0) rows.append(el('tr', {}, el('td', { colspan: 5, class: 'empty' }, 'no instances')));
  };
  await refresh();
  follow([saga ? `saga:${saga}` : 'saga:*'], debounce(() => refresh().catch((e) => notice(e.message, 'error'))));
}

async function sagaInstance(saga, key) {
  const base = `/v1/sagas/${enc(saga)}/${enc(key)}`;
  const section = (title, ...content) => el('section', {}, el('h2', {}, title), ...content);
  let definition;
  const refresh = async () => {
    definition ??= await api('GET', `/v1/definitions/${enc(saga)}`).catch(() => undefined);
    const [details, why, history] = await Promise.all([api('GET', base), api('GET', `${base}/why`), api('GET', `${base}/history`)]);
    const i = details.instance;
    const actions = el('div', { class: 'actions' },
      el('button', { type: 'button', dataset: { action: 'resume' }, disabled: i.status !== 'failed', onclick: () => act('resume', `${base}/resume`, {}, refresh) }, 'Resume'),
      el('button', { type: 'button', dataset: { action: 'replay' }, onclick: () => act('replay', `${base}/replay`, { dryRun: false }, refresh) }, 'Replay'));
    view.replaceChildren(
      el('h1', {}, `${saga} / ${key} `, el('span', { class: `badge status-${i.status}`, dataset: { testid: 'instance-status' } }, i.status)),
      el('p', { class: 'mono' }, `state ${stateText(i.state)} · version ${i.version} · definition v${i.definitionVersion} · updated ${when(i.updatedAt)}`),
      actions,
      el('ul', { class: 'summary' }, why.summary.map((s) => el('li', {}, s))),
      section('Statechart', definition ? renderStatechart(definition.graph, i.state, why.accepts) : el('p', {}, `saga ${saga} is not loaded by this daemon`)),
      section('History', el('ol', { class: 'timeline' }, history.map((h) => el('li', { class: `kind-${h.kind}` },
        el('time', {}, when(h.at)), ' ', el('strong', {}, h.eventType), ` ${stateText(h.fromState)} → ${stateText(h.toState)} `, el('span', { class: 'kind' }, h.kind),
        h.note ? el('span', { class: 'note' }, ` ${h.note}`) : null)))),
      section('Pending timers', table(['Timer', 'Event', 'Due'], details.timers.map((t) => [t.id, t.event.type, when(t.dueAt)]))),
      section('Emitted events', table(['Type', 'Id', 'When'], details.emitted.map((e) => [e.type, e.id, when(e.timestamp)]))),
      section('Dead letters', deadLetterTable(details.deadLetters, refresh)),
    );
  };
  await refresh();
  follow([`saga:${saga}:${key}`], debounce(() => refresh().catch((e) => notice(e.message, 'error')), 100));
}

function table(headers, rows) {
  if (rows.length === 0) return el('p', { class: 'empty' }, 'none');
  return el('table', { class: 'list' }, el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, rows.map((r) => el('tr', {}, r.map((c) => el('td', {}, c))))));
}

function deadLetterTable(letters, refresh) {
  return table(['Event', 'Handler', 'Error', 'Status', ''], letters.map((d) => [
    d.event.type, d.handlerId, d.error.message, d.status,
    d.status === 'open' ? el('span', {},
      el('button', { type: 'button', dataset: { action: 'retry' }, onclick: () => act('retry', `/v1/dead-letters/${enc(d.id)}/retry`, {}, refresh) }, 'Retry'),
      el('button', { type: 'button', dataset: { action: 'discard' }, onclick: () => act('discard', `/v1/dead-letters/${enc(d.id)}/discard`, {}, refresh) }, 'Discard')) : '',
  ]));
}

async function deadLetters(params) {
  const status = params.get('status') ?? 'open';
  const body = el('div');
  const refresh = async () => {
    const letters = await api('GET', `/v1/dead-letters?status=${enc(status)}&limit=500`);
    body.replaceChildren(deadLetterTable(letters, refresh));
  };
  view.replaceChildren(el('h1', {}, 'Dead letters'),
    el('div', { class: 'filters' }, el('select', { onchange: (e) => (location.hash = `#/dead-letters?status=${e.target.value}`) },
      ['open', 'retried', 'discarded'].map((s) => el('option', { value: s, selected: s === status }, s)))), body);
  await refresh();
  follow(['saga:*'], debounce(() => refresh().catch((e) => notice(e.message, 'error')), 500));
}

async function route() {
  const [path, query] = location.hash.slice(1).split('?');
  const params = new URLSearchParams(query ?? '');
  const parts = (path ?? '').split('/').filter(Boolean).map(decodeURIComponent);
  notice('');
  try {
    if (parts[0] === 'saga' && parts.length === 3) await sagaInstance(parts[1], parts[2]);
    else if (parts[0] === 'dead-letters') await deadLetters(params);
    else await sagaList(params);
  } catch (err) {
    notice(err.message, 'error');
  }
}

document.getElementById('token-button').addEventListener('click', showTokenForm);
document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  token = document.getElementById('token-input').value.trim();
  localStorage.setItem('sagaflow.token', token);
  document.getElementById('token-form').hidden = true;
  live.ws?.close();
  live.ws = undefined;
  connectLive();
  void route();
});
window.addEventListener('hashchange', () => void route());
if (!token) showTokenForm();
connectLive();
void route();
