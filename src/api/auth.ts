import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { HttpError, HttpErrorCode } from './http-errors.js';

/**
 * What a token may do. `read`: every GET of the operator API. `worker`: the remote-worker protocol
 * (`/v1/workers…`) and reads. `admin`: everything, including every mutating operator route.
 */
export const Scope = { Read: 'read', Worker: 'worker', Admin: 'admin' } as const;
export type Scope = (typeof Scope)[keyof typeof Scope];

/** A configured API token: `name` is who the audit log records. */
export interface ApiToken {
  name: string;
  token: string;
  scope: Scope;
}

/** Who made a request (the matched token's name and scope). */
export interface Principal {
  name: string;
  scope: Scope;
}

/** The name the single legacy token (`http.token`, `SAGAFLOW_API_TOKEN`, `<dataDir>/api-token`) gets, as an admin. */
export const DEFAULT_TOKEN_NAME = 'default';

/** True when a principal of scope `has` may call a route that requires `needs`. */
export function scopeAllows(has: Scope, needs: Scope): boolean {
  return has === Scope.Admin || needs === Scope.Read || has === needs;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Finds the token of `Authorization: Bearer <token>` among `tokens`, in constant time: both sides are hashed
 * first (timingSafeEqual needs equal lengths, and an early length check would leak a token's length), and
 * every token is compared, so the time says nothing about which one matched.
 *
 * Returns the principal, or a 401 {@link HttpError} to answer (the WebSocket upgrade answers it the same way).
 *
 * @example
 * const who = authenticate(req, tokens);
 * if (who instanceof HttpError) return reject(who.status, who.message);
 */
export function authenticate(request: { headers: IncomingHttpHeaders }, tokens: readonly ApiToken[]): Principal | HttpError {
  const header = request.headers.authorization;
  const m = typeof header === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
  const given = digest(m?.[1] ?? '');
  let found: ApiToken | undefined;
  for (const t of tokens) {
    if (timingSafeEqual(given, digest(t.token)) && m !== null && found === undefined) found = t;
  }
  if (!found) return new HttpError(401, HttpErrorCode.Unauthorized, 'missing or wrong bearer token (Authorization: Bearer <token>; see SAGAFLOW_API_TOKEN and http.tokens in docs/configuration.md)');
  return { name: found.name, scope: found.scope };
}

/** Checks `Authorization: Bearer <token>` against one token in constant time. */
export function isAuthorized(header: string | undefined, token: string): boolean {
  return !(authenticate({ headers: { authorization: header } }, [{ name: DEFAULT_TOKEN_NAME, token, scope: Scope.Admin }]) instanceof HttpError);
}

/** A 403 for a principal whose scope does not reach a route's. */
export function forbidden(who: Principal, needs: Scope, what: string): HttpError {
  return new HttpError(403, HttpErrorCode.Forbidden, `token "${who.name}" has scope ${who.scope}; ${what} needs scope ${needs}`, { scope: who.scope, needs });
}
