import type { OperatorApi } from '../app/operator-api.js';
import { sourcingRoutes } from './sourcing-routes.js';
import { Scope } from './auth.js';
import {
  auditQueryParams, deadLetterParams, reasonRequestSchema, eventsQueryParams, migrateRequestSchema, parseWith, publishRequestSchema, replayRequestSchema,
  replayTargetParams, sagaCountParams, sagaListParams, sagaVersionsParams, searchToObject,
} from './request-schemas.js';

/** What a route handler gets. */
export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (POST only; read once, the same value on every call). */
  body: () => Promise<unknown>;
  /** Aborted when the client goes away or the server stops (ends a long-poll early). */
  signal: AbortSignal;
  /** An audited route's reason (the `X-Sagaflow-Reason` header, or the body's `reason`). */
  reason?: string;
}

export interface RouteResponse {
  status?: number;
  body: unknown;
  /** What an audited route's row records beside who, what and why (default target: the path's parameters). */
  audit?: { target?: string; before?: unknown; after?: unknown };
}

/** How a mutating route is audited: every call needs a reason and leaves a row in the audit log. */
export interface RouteAudit {
  /** The action recorded, e.g. `dlq.retry`. */
  action: string;
  /** The route's JSON body carries a `reason` field, which counts when the `X-Sagaflow-Reason` header is absent. */
  reasonInBody?: boolean;
}

export interface Route {
  method: 'GET' | 'POST';
  /** Path template, `:name` segments become params (URL-decoded). */
  path: string;
  /** The scope a token needs. Every `admin` route must be audited (the server refuses to start otherwise). */
  scope: Scope;
  audit?: RouteAudit;
  handler: (req: RouteRequest) => Promise<RouteResponse>;
}

const ok = (body: unknown, status = 200): RouteResponse => ({ status, body });

/** A read route: any token may call it, under the read statement timeout. */
export const readRoute = (path: string, handler: Route['handler']): Route => ({ method: 'GET', path, scope: Scope.Read, handler });

/**
 * A mutating operator route: `admin` scope, rate-limited, a reason required, an audit row written with the
 * outcome. Adding one is this one call.
 *
 * @example
 * adminRoute('/v1/projections/:name/reset', 'projection.reset', async (req) => ok(await api.resetProjection(req.params.name!)))
 */
export const adminRoute = (path: string, action: string, handler: Route['handler'], options: Omit<RouteAudit, 'action'> = {}): Route => ({
  method: 'POST', path, scope: Scope.Admin, audit: { action, ...options }, handler,
});

/** The state of a dead letter an action changed, for its audit row (the event itself is in the log). */
const letterState = (l: { id: string; status: string; note?: string }) => ({ id: l.id, status: l.status, ...(l.note !== undefined ? { note: l.note } : {}) });

/** The `/v1` JSON API over an {@link OperatorApi}. Documented in `docs/api.md`. */
export function operatorRoutes(api: OperatorApi): Route[] {
  return [
    readRoute('/v1/status', async () => ok(await api.status())),
    adminRoute('/v1/migrate', 'migrate', async () => {
      const r = await api.migrate();
      return { body: r, audit: { target: 'schema', after: r } };
    }),
    adminRoute('/v1/events', 'events.publish', async (req) => {
      const r = await api.publish(parseWith(publishRequestSchema, await req.body(), 'publish request'));
      return { status: 201, body: r, audit: { target: `${r.type} ${r.id}`, after: r } };
    }),
    readRoute('/v1/events', async (req) => {
      const q = parseWith(eventsQueryParams, searchToObject(req.query, ['type']), 'events query');
      return ok(
        await api.queryEvents({
          ...(q.type ? { types: q.type } : {}),
          ...(q.stream ? { streamId: q.stream } : {}),
          ...(q.after ? { after: q.after } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
        }),
      );
    }),
    readRoute('/v1/events/latest-cursor', async () => ok({ cursor: (await api.latestCursor()) ?? null })),
    readRoute('/v1/dead-letters', async (req) => {
      const q = parseWith(deadLetterParams, searchToObject(req.query), 'dead letter query');
      return ok(
        await api.listDeadLetters({
          ...(q.status ? { status: q.status } : {}),
          ...(q.saga ? { saga: q.saga } : {}),
          ...(q.handler ? { handlerId: q.handler } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
        }),
      );
    }),
    readRoute('/v1/dead-letters/:id', async (req) => ok(await api.getDeadLetter(req.params.id!))),
    adminRoute('/v1/dead-letters/:id/retry', 'dlq.retry', async (req) => {
      const letter = await api.retryDeadLetter(req.params.id!);
      return { body: letter, audit: { before: { id: letter.id, status: 'open' }, after: letterState(letter) } };
    }),
    adminRoute('/v1/dead-letters/:id/discard', 'dlq.discard', async (req) => {
      const body = parseWith(reasonRequestSchema, await req.body(), 'discard request');
      const letter = await api.discardDeadLetter(req.params.id!, body.reason ?? req.reason!);
      return { body: letter, audit: { before: { id: letter.id, status: 'open' }, after: letterState(letter) } };
    }, { reasonInBody: true }),
    readRoute('/v1/sagas', async (req) => {
      const q = parseWith(sagaListParams, searchToObject(req.query), 'saga query');
      return ok(
        await api.listSagas({
          ...(q.saga ? { saga: q.saga } : {}),
          ...(q.status ? { status: q.status } : {}),
          ...(q.version !== undefined ? { definitionVersion: q.version } : {}),
          ...(q.stuck !== undefined ? { stuckForMs: q.stuck } : {}),
          ...(q.limit ? { limit: q.limit } : {}),
        }),
      );
    }),
    readRoute('/v1/sagas/counts', async (req) => {
      const q = parseWith(sagaCountParams, searchToObject(req.query), 'saga counts query');
      return ok(await api.sagaCounts(q.saga ? { saga: q.saga } : {}));
    }),
    readRoute('/v1/definitions/:saga', async (req) => ok(await api.sagaDefinition(req.params.saga!))),
    readRoute('/v1/sagas/versions', async (req) => ok(await api.sagaVersions(parseWith(sagaVersionsParams, searchToObject(req.query), 'saga versions query').saga))),
    adminRoute('/v1/sagas/:saga/migrate', 'saga.migrate', async (req) => {
      const b = parseWith(migrateRequestSchema, await req.body(), 'migrate request');
      const r = await api.migrateSagas({ saga: req.params.saga!, from: b.from, to: b.to, dryRun: b.dryRun ?? false, ...(b.batchSize ? { batchSize: b.batchSize } : {}), ...(b.after ? { after: b.after } : {}) });
      return { body: r, audit: { before: { version: r.from }, after: { version: r.to, dryRun: r.dryRun, read: r.read, moved: r.moved, failed: r.failed.length } } };
    }),
    readRoute('/v1/replay/targets', async (req) => {
      const q = parseWith(replayTargetParams, searchToObject(req.query), 'replay query');
      return ok(await api.replayTargets({ olderThanMs: q.olderThan ?? 0, ...(q.saga ? { saga: q.saga } : {}), ...(q.limit ? { limit: q.limit } : {}) }));
    }),
    readRoute('/v1/sagas/:saga/:key', async (req) => ok(await api.showSaga(req.params.saga!, req.params.key!))),
    readRoute('/v1/sagas/:saga/:key/history', async (req) => ok(await api.sagaHistory(req.params.saga!, req.params.key!))),
    readRoute('/v1/sagas/:saga/:key/why', async (req) => ok(await api.whySaga(req.params.saga!, req.params.key!))),
    adminRoute('/v1/sagas/:saga/:key/replay', 'saga.replay', async (req) => {
      const { dryRun } = parseWith(replayRequestSchema, await req.body(), 'replay request');
      const r = await api.replay(req.params.saga!, req.params.key!, { dryRun: dryRun ?? false });
      return { body: r, audit: { after: { dryRun: r.dryRun, actions: r.actions.map((a) => `${a.kind} ${a.id}`) } } };
    }),
    adminRoute('/v1/sagas/:saga/:key/resume', 'saga.resume', async (req) => {
      const body = parseWith(reasonRequestSchema, await req.body(), 'resume request');
      const r = await api.resumeSaga(req.params.saga!, req.params.key!, { reason: body.reason ?? req.reason! });
      return { status: 202, body: r, audit: { before: { state: r.fromState, status: 'failed' }, after: { resumeEventId: r.eventId } } };
    }, { reasonInBody: true }),
    readRoute('/v1/audit', async (req) => {
      const q = parseWith(auditQueryParams, searchToObject(req.query), 'audit query');
      return ok(await api.listAudit({ ...(q.since ? { since: q.since } : {}), ...(q.limit ? { limit: q.limit } : {}) }));
    }),
    ...sourcingRoutes(api),
  ];
}
