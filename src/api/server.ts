import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import pino from 'pino';
import { ConfigError, PayloadTooLargeError, UnavailableError, ValidationError } from '../core/errors.js';
import type { SagaflowMetrics } from '../observability/metrics.js';
import { authenticate, DEFAULT_TOKEN_NAME, Scope, type ApiToken, type Principal } from './auth.js';
import type { AuditLog } from '../core/ports/audit-log.js';
import { MemoryAuditLog } from '../memory/audit-log.js';
import { RateLimiter, type RateLimitOptions } from './rate-limit.js';
import { checkRoutes, runRoute, type ServedRoute } from './route-guard.js';
import { readJsonBody } from './body.js';
import { HttpError, HttpErrorCode, toErrorResponse } from './http-errors.js';
import type { OperatorApi } from '../app/operator-api.js';
import { operatorRoutes, type Route } from './routes.js';
import { workerRoutes } from './worker-routes.js';
import type { WorkService } from '../app/work-service.js';
import { unstorableString } from '../core/events/storable.js';
import { uiAsset, UI_HEADERS } from './ui-assets.js';
import { attachLiveBridge, type LiveBridgeOptions, type LiveSource } from './ws-bridge.js';

export interface ApiServerOptions {
  api: OperatorApi;
  /** The legacy single bearer token: an `admin` token named `default`. Give it, `tokens`, or both. */
  token?: string;
  /** Named tokens with a scope (`read`, `worker`, `admin`); every route but `/healthz` and `/readyz` needs one. */
  tokens?: readonly ApiToken[];
  /** @default '127.0.0.1' */
  host?: string;
  /** 0 = any free port. @default 7070 */
  port?: number;
  /** @default 1 MiB */
  maxBodyBytes?: number;
  /**
   * Readiness probe for `/readyz`: true/false, or a report naming each dependency's state (`ok` or what is
   * wrong), which `/readyz` returns as `checks`. @default always ready
   */
  ready?: () => Promise<boolean | { ready: boolean; checks: Record<string, string> }>;
  metrics?: SagaflowMetrics;
  /** `/metrics` without a token (for a scraper on a private network). @default false */
  metricsPublic?: boolean;
  /** Where mutating calls are recorded. @default an in-memory log (lost at exit; the daemon passes its database's) */
  audit?: AuditLog;
  /** Mutating calls per token. @default 600 a minute, bursts of 100 */
  rateLimit?: Omit<RateLimitOptions, 'now'>;
  /** `statement_timeout` of the read routes' queries (Postgres). @default none beyond the pool's */
  statementTimeoutMs?: number;
  /** Worker delivery: serves `/v1/workers` (remote workers) when given. */
  work?: WorkService;
  logger?: Logger;
  /**
   * Host names a request's `Host` header may carry (against DNS rebinding: a web page whose name resolves to
   * 127.0.0.1 must not reach a local daemon). @default bound to a loopback address: `localhost`, `127.0.0.1`,
   * `::1`; bound to any other address: any host
   */
  allowedHosts?: readonly string[];
  /** Live events and saga transitions: serves the WebSocket bridge at `/ws` when given (docs/api.md, "WebSocket"). */
  live?: LiveSource;
  /** Browser origins allowed to open `/ws` besides the daemon's own (its dashboard at `/ui`). @default none */
  allowedOrigins?: readonly string[];
  /** Limits of the WebSocket bridge (defaults in {@link LiveBridgeOptions}). */
  liveLimits?: Pick<LiveBridgeOptions, 'maxPayloadBytes' | 'maxBufferedBytes' | 'maxSubscriptions' | 'heartbeatMs'>;
}

const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

/** The host names allowed by default for a server bound to `host`; undefined allows any. */
function defaultAllowedHosts(host: string): string[] | undefined {
  return LOOPBACK.includes(host) || host === '[::1]' ? LOOPBACK : undefined;
}

/** The host name of a `Host` header (`name`, `name:port`, `[v6]:port`), lower-cased. */
function hostName(header: string): string {
  const m = /^\[([^\]]+)\](?::\d+)?$/.exec(header) ?? /^([^:]+)(?::\d+)?$/.exec(header);
  return (m?.[1] ?? header).toLowerCase();
}

/** A running API server. */
export interface ApiServer {
  /** `http://host:port` once listening. */
  readonly url: string;
  readonly server: Server;
  /** Every route served, with who may call it: what the route inventory test walks. */
  readonly routes: readonly ServedRoute[];
  /** Checks a request's bearer token against this server's tokens (for an upgrade handler on `server`). */
  authenticate(request: IncomingMessage): Principal | HttpError;
  /** Stops accepting, lets requests in flight finish (up to `timeoutMs`), then closes every socket. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

interface CompiledRoute extends Route {
  segments: string[];
}

function match(route: CompiledRoute, parts: string[]): Record<string, string> | undefined {
  if (route.segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const seg = route.segments[i]!;
    const part = parts[i]!;
    if (seg.startsWith(':')) {
      let value: string;
      try {
        value = decodeURIComponent(part);
      } catch {
        throw new ValidationError('request path', [{ path: seg.slice(1), message: 'is not valid percent-encoding' }]);
      }
      const why = unstorableString(value);
      if (why) throw new ValidationError('request path', [{ path: seg.slice(1), message: why }]);
      params[seg.slice(1)] = value;
    } else if (seg !== part) {
      return undefined;
    }
  }
  return params;
}

function send(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; version=0.0.4; charset=utf-8' : 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(text);
}

/**
 * Starts the HTTP API on `node:http`: `/healthz`, `/readyz`, `/metrics` and the `/v1` operator API.
 * Closed by default (bearer token, constant-time compare), bodies capped, errors as
 * `{ code, message, details }` with a 4xx/5xx status and never a stack trace.
 */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const routes: CompiledRoute[] = [...operatorRoutes(options.api), ...(options.work ? workerRoutes(options.work) : [])].map((r) => ({ ...r, segments: r.path.split('/').filter(Boolean) }));
  checkRoutes(routes);
  const guard = {
    audit: options.audit ?? new MemoryAuditLog(),
    limiter: new RateLimiter(options.rateLimit ?? { perMinute: 600, burst: 100 }),
    ...(options.statementTimeoutMs ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
    logger,
  };
  const ready = options.ready ?? (() => Promise.resolve(true));
  const tokens: ApiToken[] = [...(options.tokens ?? []), ...(options.token !== undefined ? [{ name: DEFAULT_TOKEN_NAME, token: options.token, scope: Scope.Admin }] : [])];
  if (tokens.length === 0) throw new ConfigError('the API server needs at least one token (http.token or http.tokens)');
  const allowedHosts = (options.allowedHosts ?? defaultAllowedHosts(options.host ?? '127.0.0.1'))?.map((h) => hostName(h));

  const hostAllowed = (req: IncomingMessage) => !allowedHosts || allowedHosts.includes(hostName(req.headers.host ?? ''));
  // The WebSocket bridge streams what a read token may see: any token of this server opens it.
  const authorize = (authorization: string | undefined) => !(authenticate({ headers: { authorization } }, tokens) instanceof HttpError);

  /** `at.route`: the route a request matched (its template), for the metric's label even when it fails. */
  const handle = async (req: IncomingMessage, res: ServerResponse, at: { route: string }, signal: AbortSignal): Promise<string> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = req.method ?? 'GET';
    if (!hostAllowed(req)) {
      throw new HttpError(403, HttpErrorCode.HostNotAllowed, `Host "${(req.headers.host ?? '').slice(0, 100)}" is not one this daemon answers to (${allowedHosts?.join(', ')})`);
    }
    if (url.pathname === '/healthz') {
      send(res, 200, { status: 'ok' });
      return 'healthz';
    }
    if (url.pathname === '/readyz') {
      const report = await ready().catch((err: unknown) => ({ ready: false, checks: { probe: err instanceof Error ? err.message : String(err) } }));
      const isReady = typeof report === 'boolean' ? report : report.ready;
      send(res, isReady ? 200 : 503, { status: isReady ? 'ready' : 'not ready', ...(typeof report === 'boolean' ? {} : { checks: report.checks }) });
      return 'readyz';
    }
    // The dashboard's static files are open (code, no data: the page asks for the token and sends it on every call).
    const asset = method === 'GET' ? uiAsset(url.pathname) : undefined;
    if (asset) {
      res.writeHead(200, { 'content-type': asset.contentType, 'content-length': asset.body.length, 'cache-control': 'no-cache', 'x-content-type-options': 'nosniff', ...UI_HEADERS });
      res.end(asset.body);
      return 'ui';
    }
    if (url.pathname === '/dashboard') {
      res.writeHead(302, { location: '/ui/', 'content-length': 0 });
      res.end();
      return 'ui';
    }
    const who = authenticate(req, tokens);
    if (who instanceof HttpError && !(options.metricsPublic && url.pathname === '/metrics')) throw who;
    if (url.pathname === '/metrics' && options.metrics) {
      if (method !== 'GET') throw new HttpError(405, HttpErrorCode.MethodNotAllowed, `${method} /metrics is not allowed; use GET`);
      send(res, 200, await options.metrics.registry.metrics(), { 'content-type': options.metrics.registry.contentType });
      return 'metrics';
    }
    const parts = url.pathname.split('/').filter(Boolean);
    let allowed: string[] = [];
    for (const route of routes) {
      const params = match(route, parts);
      if (!params) continue;
      if (route.method !== method) {
        allowed.push(route.method);
        continue;
      }
      at.route = route.path;
      // Query parameters reach SQL as text: refused here when Postgres could not hold them.
      for (const [name, value] of url.searchParams) {
        const why = unstorableString(value);
        if (why) throw new ValidationError('request query', [{ path: name, message: why }]);
      }
      if (who instanceof HttpError) throw who;
      let body: Promise<unknown> | undefined;
      const result = await runRoute(route, who, { params, query: url.searchParams, body: () => (body ??= readJsonBody(req, maxBody)), signal }, { req, res }, guard);
      send(res, result.status ?? 200, result.body);
      return route.path;
    }
    allowed = [...new Set(allowed)];
    if (allowed.length > 0) throw new HttpError(405, HttpErrorCode.MethodNotAllowed, `${method} ${url.pathname} is not allowed; use ${allowed.join(' or ')}`);
    throw new HttpError(404, HttpErrorCode.RouteNotFound, `no route ${method} ${url.pathname}; see docs/api.md`);
  };

  // Once stop() begins, every request is refused at once (503, `Connection: close`), also on keep-alive
  // connections opened before: nothing is accepted after the signal.
  let closing = false;
  const inFlight = new Set<ServerResponse>();
  const aborts = new Set<AbortController>();
  const server = createServer((req, res) => {
    inFlight.add(res);
    const abort = new AbortController();
    aborts.add(abort);
    res.once('close', () => {
      inFlight.delete(res);
      aborts.delete(abort);
      abort.abort();
    });
    if (closing) {
      options.metrics?.httpRequests.inc({ route: 'shutting-down', status: '503' });
      send(res, 503, { code: 'UNAVAILABLE', message: 'the daemon is shutting down; retry against another daemon or after restart', details: {} }, { connection: 'close' });
      return;
    }
    const at = { route: 'unmatched' };
    handle(req, res, at, abort.signal).then(
      (route) => options.metrics?.httpRequests.inc({ route, status: String(res.statusCode) }),
      (err: unknown) => {
        const { status, body, internal } = toErrorResponse(err);
        // The path only: a query string may carry what does not belong in a log (a token pasted into a URL).
        const path = (req.url ?? '/').split('?')[0]!.slice(0, 300);
        if (internal) logger.error({ err, method: req.method, path }, 'API request failed');
        else logger.debug({ code: body.code, method: req.method, path }, body.message);
        options.metrics?.httpRequests.inc({ route: at.route, status: String(status) });
        if (res.headersSent) {
          res.destroy();
          return;
        }
        // After a 413 the rest of the body is not read: close the connection instead of draining it.
        send(res, status, body, err instanceof PayloadTooLargeError ? { connection: 'close' } : {});
      },
    );
  });
  const bridge = options.live
    ? attachLiveBridge({ server, source: options.live, authorize, hostAllowed, allowedOrigins: options.allowedOrigins ?? [], logger, ...options.liveLimits })
    : undefined;
  server.requestTimeout = 60_000;
  server.headersTimeout = 10_000;
  server.maxHeadersCount = 100;

  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      // One line that says what to do, not the socket's raw error.
      const where = `${options.host ?? '127.0.0.1'}:${options.port ?? 7070}`;
      if (err.code === 'EADDRINUSE') reject(new UnavailableError(`cannot listen on ${where}: the port is in use (another daemon?); choose another with --port or SAGAFLOW_HTTP_PORT`, { cause: err }));
      else if (err.code === 'EACCES') reject(new UnavailableError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges); choose another with --port`, { cause: err }));
      else if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') reject(new UnavailableError(`cannot listen on ${where}: no such local address; check --host`, { cause: err }));
      else reject(err);
    });
    server.listen(options.port ?? 7070, options.host ?? '127.0.0.1', () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;

  let stopping: Promise<void> | undefined;
  return {
    url,
    server,
    routes: [
      { method: 'GET', path: '/healthz', access: 'open' },
      { method: 'GET', path: '/readyz', access: 'open' },
      ...(options.metrics ? [{ method: 'GET', path: '/metrics', access: options.metricsPublic ? ('open' as const) : Scope.Read }] : []),
      ...routes.map((r) => ({ method: r.method, path: r.path, access: r.scope, ...(r.audit ? { audit: r.audit.action } : {}) })),
    ],
    authenticate: (request) => authenticate(request, tokens),
    stop({ timeoutMs = 5000 } = {}) {
      closing = true;
      const bridgeClosed = bridge?.close();
      for (const abort of aborts) abort.abort(); // long-polls answer now (with nothing)
      // Requests in flight finish, and their connections close after the response instead of idling.
      for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false;
      stopping ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), timeoutMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }).then(() => bridgeClosed);
      return stopping;
    },
  };
}
