import WebSocket from 'ws';
import type { OperatorApi } from '../app/operator-api.js';
import { ErrorCode, UnavailableError, ValidationError, WaitTimeoutError } from '../core/errors.js';
import { SagaStatus, type SagaInstance } from '../core/ports/saga-store.js';
import { activeStatePaths, activeTags, statesByPath } from '../core/saga/active-states.js';
import type { SagaGraph } from '../core/saga/graph.js';
import { LIVE_PROTOCOL } from './ws-bridge.js';

/** What to wait for: exactly one of a state (dotted path, active when it or a child is), a tag, or a status. */
export type WaitCondition = { state: string } | { tag: string } | { status: SagaStatus };

export interface WaitForOptions {
  /** @default 30000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Where to wait: the daemon's API (current state, definition) and its WebSocket. */
export interface WaitConnection {
  api: Pick<OperatorApi, 'showSaga' | 'sagaDefinition'>;
  /** `http://127.0.0.1:7070` */
  url: string;
  token: string;
}

const statuses = Object.values(SagaStatus) as string[];

/** The condition checked against an instance, after checking it names something the saga has. */
async function compile(c: WaitConnection, saga: string, condition: WaitCondition): Promise<{ what: string; holds: (i: SagaInstance) => boolean }> {
  const given = (['state', 'tag', 'status'] as const).filter((k) => k in condition && typeof (condition as Record<string, unknown>)[k] === 'string');
  if (given.length !== 1) throw new ValidationError('wait condition', [{ path: 'condition', message: 'give exactly one of state, tag or status' }]);
  if ('status' in condition) {
    if (!statuses.includes(condition.status)) throw new ValidationError('wait condition', [{ path: 'status', message: `"${condition.status}" is not one of ${statuses.join(', ')}` }]);
    return { what: `status ${condition.status}`, holds: (i) => i.status === condition.status };
  }
  const graph: SagaGraph = (await c.api.sagaDefinition(saga)).graph;
  if ('state' in condition) {
    const known = [...statesByPath(graph).keys()];
    if (!known.includes(condition.state)) throw new ValidationError('wait condition', [{ path: 'state', message: `"${condition.state}" is not a state of ${saga} (${known.join(', ')})` }]);
    return { what: `state ${condition.state}`, holds: (i) => activeStatePaths(i.state).includes(condition.state) };
  }
  const tags = [...new Set(graph.nodes.flatMap((n) => n.tags))].sort();
  if (!tags.includes(condition.tag)) throw new ValidationError('wait condition', [{ path: 'tag', message: `"${condition.tag}" is not a tag of ${saga} (${tags.join(', ') || 'it has none'})` }]);
  return { what: `tag ${condition.tag}`, holds: (i) => activeTags(graph, i.state).includes(condition.tag) };
}

/**
 * Waits until instance `key` of `saga` meets `condition`, and returns it. Subscribes to the instance's transitions
 * on the daemon's WebSocket first, then reads its current state (so a transition between the two is not missed),
 * and reads it again after every transition. An instance that does not exist yet is waited for too.
 * Throws {@link WaitTimeoutError} (`WAIT_TIMEOUT`, with the last instance seen) after `timeoutMs`, VALIDATION for
 * a condition the saga cannot meet (unknown state, tag or status), UNAVAILABLE when the daemon cannot be reached.
 *
 * @example
 * const order = await waitFor({ api, url, token }, 'Order', 'o-1', { status: 'completed' }, { timeoutMs: 10_000 });
 */
export async function waitFor(c: WaitConnection, saga: string, key: string, condition: WaitCondition, options: WaitForOptions = {}): Promise<SagaInstance> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const { what, holds } = await compile(c, saga, condition);
  const current = async (): Promise<SagaInstance | undefined> => {
    try {
      return (await c.api.showSaga(saga, key)).instance;
    } catch (err) {
      const e = err as { code?: string; details?: { what?: string } };
      if (e.code === ErrorCode.NotFound && e.details?.what !== 'saga') return undefined; // not created yet
      throw err;
    }
  };
  const ws = new WebSocket(`${c.url.replace(/^http/, 'ws').replace(/\/+$/, '')}/ws`, [LIVE_PROTOCOL], { headers: { authorization: `Bearer ${c.token}` } });
  return new Promise<SagaInstance>((resolve, reject) => {
    let done = false;
    let last: SagaInstance | undefined;
    const finish = (err: unknown, value?: SagaInstance) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      ws.terminate();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(() => finish(new WaitTimeoutError(`${saga} ${key} to reach ${what}`, timeoutMs, { saga, key, instance: last ?? null })), timeoutMs);
    const onAbort = () => finish(options.signal?.reason ?? new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort);
    // Checks run one after the other: a burst of transitions costs one read each, in order.
    let checks = Promise.resolve();
    const check = () => {
      checks = checks.then(async () => {
        if (done) return;
        last = (await current()) ?? last;
        if (last && holds(last)) finish(undefined, last);
      }).catch((err: unknown) => finish(err));
    };
    ws.on('open', () => ws.send(JSON.stringify({ op: 'subscribe', id: 'wait', patterns: [`saga:${saga}:${key}`] })));
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { type?: string; message?: string };
      if (msg.type === 'subscribed' || msg.type === 'transition') check();
      else if (msg.type === 'error') finish(new UnavailableError(`the daemon refused the subscription: ${msg.message ?? ''}`));
    });
    ws.on('unexpected-response', (_req, res) => finish(new UnavailableError(`the daemon at ${c.url} refused the live stream (${res.statusCode}${res.statusCode === 401 ? ': wrong token' : ''})`)));
    ws.on('error', (err) => finish(new UnavailableError(`cannot open the live stream of ${c.url}: ${err.message}`, { cause: err })));
    ws.on('close', (code, reason) => finish(new UnavailableError(`the daemon closed the live stream (${code}${reason.length ? ` ${reason.toString()}` : ''})`)));
    if (options.signal?.aborted) onAbort();
  });
}
