import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import pino from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { ErrorCode, SagaflowError, ValidationError } from '../core/errors.js';
import type { LiveListener } from '../runtime/live-feed.js';
import { HttpErrorCode } from './http-errors.js';
import { compileLivePattern, toLiveMessage, type LiveMatcher } from './live-filter.js';

/** What the bridge follows (the daemon's {@link import('../runtime/live-feed.js').LiveFeed}). */
export interface LiveSource {
  /** Resolves once everything committed from now on reaches `listener`; to the function that removes it. */
  subscribe(listener: LiveListener): Promise<() => Promise<void>>;
}

/** Close codes the bridge uses (besides `ws`'s own 1009 for a frame over `maxPayload`). */
export const LiveCloseCode = {
  /** The daemon is stopping. */
  GoingAway: 1001,
  /** The client read too slowly: its send buffer passed `maxBufferedBytes`. Reconnect and read faster. */
  TooSlow: 1013,
} as const;

/** The subprotocol of this bridge; a client offers it, with its token as `sagaflow.token.<base64url(token)>` when it cannot set headers. */
export const LIVE_PROTOCOL = 'sagaflow.v1';
const TOKEN_PROTOCOL = 'sagaflow.token.';

export interface LiveBridgeOptions {
  server: Server;
  source: LiveSource;
  /** The token check: gets the request's `Authorization` value (or `Bearer <token>` from the subprotocol). */
  authorize: (authorization: string | undefined) => boolean;
  /** Whether the request's `Host` is one the daemon answers to. */
  hostAllowed: (req: IncomingMessage) => boolean;
  /** Origins (`https://ops.example.com`) a browser page may connect from, beside the daemon's own. @default none */
  allowedOrigins?: readonly string[];
  /** @default '/ws' */
  path?: string;
  /** Largest frame a client may send; a larger one closes the connection (1009). @default 16 KiB */
  maxPayloadBytes?: number;
  /** Bytes queued for one client past which it is cut off (1013). @default 1 MiB */
  maxBufferedBytes?: number;
  /** Patterns per connection. @default 32 */
  maxSubscriptions?: number;
  /** Ping interval; a client that has not answered the previous ping is cut off. @default 30000 */
  heartbeatMs?: number;
  logger?: Logger;
}

/** The running bridge. */
export interface LiveBridge {
  /** Open connections. */
  readonly clients: number;
  /** Closes every connection (1001) and stops accepting. */
  close(): Promise<void>;
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message, details: {} });
  const reason = ({ 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' } as Record<number, string>)[status] ?? 'Error';
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** The `Authorization` value of an upgrade: the header, else the token carried as a subprotocol (browsers cannot set headers). */
function authorizationOf(req: IncomingMessage): string | undefined {
  if (req.headers.authorization) return req.headers.authorization;
  const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  const carried = offered.find((p) => p.startsWith(TOKEN_PROTOCOL));
  return carried ? `Bearer ${Buffer.from(carried.slice(TOKEN_PROTOCOL.length), 'base64url').toString('utf8')}` : undefined;
}

/** True when a browser's `Origin` may connect: the daemon's own origin (its dashboard) or an allowed one. No `Origin` (not a browser) passes. */
function originAllowed(req: IncomingMessage, allowed: readonly string[]): boolean {
  const origin = req.headers.origin;
  if (origin === undefined) return true;
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === (req.headers.host ?? '').toLowerCase();
  } catch {
    return false;
  }
}

/**
 * The WebSocket bridge at `/ws` (docs/api.md, "WebSocket"): checked at the upgrade (`Host`, `Origin`, token),
 * then a client sends `{ "op": "subscribe", "patterns": [...] }` and receives each matching event and saga
 * transition as a {@link import('./live-filter.js').LiveMessage}. Bounded: frames in (`maxPayloadBytes`),
 * patterns per connection, and bytes queued per client (a client that reads too slowly is cut off, so it
 * never holds the others back nor the daemon's memory).
 */
export function attachLiveBridge(options: LiveBridgeOptions): LiveBridge {
  const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'ws' });
  const path = options.path ?? '/ws';
  const maxBuffered = options.maxBufferedBytes ?? 1024 * 1024;
  const maxSubscriptions = options.maxSubscriptions ?? 32;
  const allowedOrigins = options.allowedOrigins ?? [];
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes ?? 16 * 1024,
    perMessageDeflate: false,
    // Only our protocol is ever selected: the token-carrying one is never echoed back.
    handleProtocols: (protocols) => (protocols.has(LIVE_PROTOCOL) ? LIVE_PROTOCOL : false),
  });
  let closing = false;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== path) return refuse(socket, 404, HttpErrorCode.RouteNotFound, `no WebSocket at ${url.pathname}; use ${path}`);
    if (closing) return refuse(socket, 503, 'UNAVAILABLE', 'the daemon is shutting down');
    if (!options.hostAllowed(req)) return refuse(socket, 403, HttpErrorCode.HostNotAllowed, 'Host is not one this daemon answers to');
    if (!originAllowed(req, allowedOrigins)) {
      return refuse(socket, 403, 'ORIGIN_NOT_ALLOWED', `Origin "${String(req.headers.origin).slice(0, 100)}" may not connect; add it to SAGAFLOW_HTTP_ALLOWED_ORIGINS`);
    }
    if (!options.authorize(authorizationOf(req))) {
      return refuse(socket, 401, HttpErrorCode.Unauthorized, `missing or wrong token (Authorization: Bearer <token>, or the subprotocol ${TOKEN_PROTOCOL}<base64url token>)`);
    }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws));
  };
  options.server.on('upgrade', onUpgrade);

  const serve = (ws: WebSocket) => {
    const matchers = new Map<string, LiveMatcher>();
    let unsubscribe: Promise<() => Promise<void>> | undefined;
    let alive = true;
    let cutOff = false;
    const reply = (body: Record<string, unknown>) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(body));
    };
    const listener: LiveListener = (item) => {
      if (cutOff || ws.readyState !== ws.OPEN) return;
      let match = false;
      for (const m of matchers.values()) if ((match = m(item))) break;
      if (!match) return;
      if (ws.bufferedAmount > maxBuffered) {
        // Cut off: nothing more is queued for it; the close frame follows what is queued, and a client that
        // never reads that far is dropped after a grace period.
        cutOff = true;
        logger.warn({ bufferedAmount: ws.bufferedAmount, limit: maxBuffered }, 'WebSocket client too slow; disconnecting');
        ws.close(LiveCloseCode.TooSlow, 'send buffer full: the client reads too slowly');
        setTimeout(() => ws.terminate(), 5000).unref();
        return;
      }
      ws.send(JSON.stringify(toLiveMessage(item)));
    };
    const subscribe = async (id: unknown, patterns: unknown) => {
      if (!Array.isArray(patterns) || patterns.length === 0) throw new ValidationError('subscription', [{ path: 'patterns', message: 'must be a non-empty array of patterns' }]);
      const compiled = patterns.map((p, i) => [p as string, compileLivePattern(p, `patterns[${i}]`)] as const);
      const total = new Set([...matchers.keys(), ...compiled.map(([p]) => p)]).size;
      if (total > maxSubscriptions) {
        throw new SagaflowError(ErrorCode.Validation, `at most ${maxSubscriptions} patterns per connection (this one would have ${total}); unsubscribe some or open another connection`, { details: { limit: maxSubscriptions } });
      }
      for (const [p, m] of compiled) matchers.set(p, m);
      unsubscribe ??= options.source.subscribe(listener);
      await unsubscribe;
      reply({ type: 'subscribed', ...(id === undefined ? {} : { id }), patterns: [...matchers.keys()] });
    };
    const onMessage = async (data: RawData, isBinary: boolean) => {
      let msg: { op?: unknown; id?: unknown; patterns?: unknown };
      try {
        msg = isBinary ? {} : (JSON.parse(data.toString()) as typeof msg);
        if (typeof msg !== 'object' || msg === null) msg = {};
      } catch {
        throw new ValidationError('message', [{ path: '(root)', message: 'is not JSON' }]);
      }
      if (msg.op === 'subscribe') return subscribe(msg.id, msg.patterns);
      if (msg.op === 'unsubscribe') {
        const patterns = Array.isArray(msg.patterns) ? msg.patterns : [];
        for (const p of patterns) matchers.delete(String(p));
        return reply({ type: 'unsubscribed', ...(msg.id === undefined ? {} : { id: msg.id }), patterns: [...matchers.keys()] });
      }
      throw new ValidationError('message', [{ path: 'op', message: 'must be "subscribe" or "unsubscribe"' }]);
    };
    ws.on('message', (data, isBinary) => {
      onMessage(data, isBinary).catch((err: unknown) => {
        if (err instanceof SagaflowError) return reply({ type: 'error', code: err.code, message: err.message, details: err.details });
        logger.error({ err }, 'WebSocket subscribe failed');
        reply({ type: 'error', code: 'INTERNAL', message: 'internal error; see the daemon log', details: {} });
      });
    });
    ws.on('pong', () => (alive = true));
    const heartbeat = setInterval(() => {
      if (!alive) {
        ws.terminate();
        return;
      }
      alive = false;
      ws.ping();
    }, options.heartbeatMs ?? 30_000);
    heartbeat.unref();
    ws.on('error', (err) => logger.debug({ err }, 'WebSocket error'));
    ws.on('close', () => {
      clearInterval(heartbeat);
      void unsubscribe?.then((off) => off()).catch(() => undefined);
    });
  };

  return {
    get clients() {
      return wss.clients.size;
    },
    async close() {
      closing = true;
      options.server.off('upgrade', onUpgrade);
      const closed = [...wss.clients].map((ws) => new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(LiveCloseCode.GoingAway, 'the daemon is stopping');
        setTimeout(() => ws.terminate(), 1000).unref();
      }));
      await Promise.all(closed);
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
