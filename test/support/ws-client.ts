import WebSocket from 'ws';
import { LIVE_PROTOCOL } from '../../src/api/ws-bridge.js';

/** A test client of the WebSocket bridge that keeps what it received. */
export interface TestWsClient {
  ws: WebSocket;
  messages: Array<Record<string, unknown>>;
  /** Resolves with the close code and reason. */
  closed: Promise<{ code: number; reason: string }>;
  send(body: unknown): void;
  /** Waits for a message matching `pred` (received before or after the call). */
  next(pred: (m: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Sends `subscribe` and waits for its acknowledgement. */
  subscribe(patterns: string[]): Promise<void>;
}

/** Connects to `url` (http://…); resolves once open, rejects with the refusal's status (`Unexpected server response: 401`). */
export function connectWs(url: string, options: { token?: string; headers?: Record<string, string>; protocolToken?: boolean } = {}): Promise<TestWsClient> {
  const protocols = [LIVE_PROTOCOL, ...(options.protocolToken && options.token ? [`sagaflow.token.${Buffer.from(options.token).toString('base64url')}`] : [])];
  const headers = { ...(options.token && !options.protocolToken ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers };
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}/ws`, protocols, { headers });
  const messages: Array<Record<string, unknown>> = [];
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    messages.push(JSON.parse(data.toString()) as Record<string, unknown>);
    for (const w of waiters) w();
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const client: TestWsClient = {
    ws, messages, closed,
    send: (body) => ws.send(typeof body === 'string' ? body : JSON.stringify(body)),
    next: (pred, timeoutMs = 10_000) => new Promise((resolve, reject) => {
      const check = () => {
        const found = messages.find(pred);
        if (!found) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no matching message within ${timeoutMs} ms; got ${JSON.stringify(messages).slice(0, 1000)}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    }),
    subscribe: async (patterns) => {
      const id = Math.random().toString(36).slice(2);
      client.send({ op: 'subscribe', id, patterns });
      const ack = await client.next((m) => m.id === id);
      if (ack.type !== 'subscribed') throw new Error(`subscribe refused: ${JSON.stringify(ack)}`);
    },
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
  });
}
