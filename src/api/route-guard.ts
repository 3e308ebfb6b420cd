import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { SagaflowError, ValidationError } from '../core/errors.js';
import type { AuditLog } from '../core/ports/audit-log.js';
import { withStatementTimeout } from '../core/ports/db.js';
import { forbidden, scopeAllows, type Principal, type Scope } from './auth.js';
import { HttpError, HttpErrorCode } from './http-errors.js';
import type { RateLimiter } from './rate-limit.js';
import { REASON_HEADER, reasonOf } from './reason.js';
import type { Route, RouteRequest, RouteResponse } from './routes.js';

/** What the server's guard needs: where audit rows go, the mutating-call budget, the read routes' timeout. */
export interface RouteGuardOptions {
  audit: AuditLog;
  limiter: RateLimiter;
  /** `statement_timeout` of read (GET) routes; undefined: none beyond the pool's. */
  statementTimeoutMs?: number;
  logger: Logger;
}

/** A route as the server serves it: who may call it (`open`: anyone) and the action its audit rows record. */
export interface ServedRoute {
  method: string;
  path: string;
  access: 'open' | Scope;
  audit?: string;
}

/** Every `admin` route must be audited: refused at start, so a new mutating route cannot skip the audit log. */
export function checkRoutes(routes: readonly Route[]): void {
  const unaudited = routes.filter((r) => r.scope === 'admin' && !r.audit).map((r) => `${r.method} ${r.path}`);
  if (unaudited.length > 0) throw new Error(`admin routes must be audited (use adminRoute): ${unaudited.join(', ')}`);
}

const paramsText = (params: Record<string, string>) => Object.entries(params).map(([k, v]) => `${k}=${v}`).join(' ');

/** Attempts of an audit row's write: a dropped connection (a failover, a cut) is retried on a new one. */
const AUDIT_ATTEMPTS = 6;

/** Writes one audit row, retrying with a short backoff (50 ms doubling, about 1.5 s in all) before giving up. */
async function recordAudit(o: RouteGuardOptions, entry: Parameters<RouteGuardOptions['audit']['record']>[0]): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await o.audit.record(entry);
      return;
    } catch (err) {
      if (attempt >= AUDIT_ATTEMPTS) throw err;
      await new Promise((r) => setTimeout(r, 50 * 2 ** (attempt - 1)));
    }
  }
}

/**
 * Runs a matched route for `who`: the scope check (403), then for a read route the handler under the read
 * statement timeout; for an audited route the rate limit (429 with `Retry-After`), the reason (400 without
 * one), the handler, and an audit row with the outcome — `ok` or the error code — written right after the
 * call settles (retried for about 1.5 s, so a dropped connection does not lose it). A row that still cannot be
 * written turns the answer into a 500 `AUDIT_FAILED` (the change stands).
 */
export async function runRoute(route: Route, who: Principal, req: RouteRequest, http: { req: IncomingMessage; res: ServerResponse }, o: RouteGuardOptions): Promise<RouteResponse> {
  if (!scopeAllows(who.scope, route.scope)) throw forbidden(who, route.scope, `${route.method} ${route.path}`);
  const audit = route.audit;
  if (!audit) return route.method === 'GET' && o.statementTimeoutMs ? withStatementTimeout(o.statementTimeoutMs, () => route.handler(req)) : route.handler(req);

  const wait = o.limiter.take(who.name);
  if (wait > 0) {
    http.res.setHeader('retry-after', String(wait));
    throw new HttpError(429, HttpErrorCode.RateLimited, `token "${who.name}" made too many changes; retry in ${wait}s (http.rate_limit in docs/configuration.md)`, { retryAfterSeconds: wait });
  }
  const fromBody = audit.reasonInBody ? ((await req.body()) as { reason?: unknown } | null)?.reason : undefined;
  const reason = reasonOf(http.req.headers, fromBody);
  if (!reason) {
    const where = audit.reasonInBody ? `the ${REASON_HEADER} header or the body's "reason"` : `the ${REASON_HEADER} header (CLI: --reason)`;
    throw new ValidationError(`${route.method} ${route.path} request`, [{ path: REASON_HEADER, message: `a reason is required for every change (it goes to the audit log): send ${where}` }]);
  }
  const row = { actor: who.name, action: audit.action, target: paramsText(req.params), reason };
  let result: RouteResponse;
  try {
    result = await route.handler({ ...req, reason });
  } catch (err) {
    const outcome = err instanceof SagaflowError || err instanceof HttpError ? err.code : 'INTERNAL';
    await recordAudit(o, { ...row, outcome }).catch((auditErr: unknown) => o.logger.error({ err: auditErr, ...row, outcome }, 'audit row not written'));
    throw err;
  }
  try {
    await recordAudit(o, { ...row, ...result.audit, target: result.audit?.target ?? row.target, outcome: 'ok' });
  } catch (err) {
    o.logger.error({ err, ...row }, 'change applied but its audit row was not written');
    throw new HttpError(500, HttpErrorCode.AuditFailed, `${audit.action} was applied but its audit row could not be written; see the daemon log`);
  }
  return result;
}
