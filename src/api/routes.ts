import type { OperatorApi } from '../app/operator-api.js';
import { sourcingRoutes } from './sourcing-routes.js';
import {
  deadLetterParams, discardRequestSchema, eventsQueryParams, migrateRequestSchema, parseWith, publishRequestSchema, replayRequestSchema,
  replayTargetParams, sagaCountParams, sagaListParams, sagaVersionsParams, searchToObject,
} from './request-schemas.js';

/** What a route handler gets. */
export interface RouteRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body (POST only). */
  body: () => Promise<unknown>;
  /** Aborted when the client goes away or the server stops (ends a long-poll early). */
  signal: AbortSignal;
}

export interface RouteResponse {
  status?: number;
  body: unknown;
}

export interface Route {
  method: 'GET' | 'POST';
  /** Path template, `:name` segments become params (URL-decoded). */
  path: string;
  handler: (req: RouteRequest) => Promise<RouteResponse>;
}

const ok = (body: unknown, status = 200): RouteResponse => ({ status, body });

/** The `/v1` JSON API over an {@link OperatorApi}. Documented in `docs/api.md`. */
export function operatorRoutes(api: OperatorApi): Route[] {
  return [
    { method: 'GET', path: '/v1/status', handler: async () => ok(await api.status()) },
    { method: 'POST', path: '/v1/migrate', handler: async () => ok(await api.migrate()) },
    {
      method: 'POST',
      path: '/v1/events',
      handler: async (req) => ok(await api.publish(parseWith(publishRequestSchema, await req.body(), 'publish request')), 201),
    },
    {
      method: 'GET',
      path: '/v1/events',
      handler: async (req) => {
        const q = parseWith(eventsQueryParams, searchToObject(req.query, ['type']), 'events query');
        return ok(
          await api.queryEvents({
            ...(q.type ? { types: q.type } : {}),
            ...(q.stream ? { streamId: q.stream } : {}),
            ...(q.after ? { after: q.after } : {}),
            ...(q.limit ? { limit: q.limit } : {}),
          }),
        );
      },
    },
    { method: 'GET', path: '/v1/events/latest-cursor', handler: async () => ok({ cursor: (await api.latestCursor()) ?? null }) },
    {
      method: 'GET',
      path: '/v1/dead-letters',
      handler: async (req) => {
        const q = parseWith(deadLetterParams, searchToObject(req.query), 'dead letter query');
        return ok(
          await api.listDeadLetters({
            ...(q.status ? { status: q.status } : {}),
            ...(q.saga ? { saga: q.saga } : {}),
            ...(q.handler ? { handlerId: q.handler } : {}),
            ...(q.limit ? { limit: q.limit } : {}),
          }),
        );
      },
    },
    { method: 'GET', path: '/v1/dead-letters/:id', handler: async (req) => ok(await api.getDeadLetter(req.params.id!)) },
    { method: 'POST', path: '/v1/dead-letters/:id/retry', handler: async (req) => ok(await api.retryDeadLetter(req.params.id!)) },
    {
      method: 'POST',
      path: '/v1/dead-letters/:id/discard',
      handler: async (req) => {
        const { reason } = parseWith(discardRequestSchema, await req.body(), 'discard request');
        return ok(await api.discardDeadLetter(req.params.id!, reason));
      },
    },
    {
      method: 'GET',
      path: '/v1/sagas',
      handler: async (req) => {
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
      },
    },
    {
      method: 'GET',
      path: '/v1/sagas/counts',
      handler: async (req) => {
        const q = parseWith(sagaCountParams, searchToObject(req.query), 'saga counts query');
        return ok(await api.sagaCounts(q.saga ? { saga: q.saga } : {}));
      },
    },
    { method: 'GET', path: '/v1/definitions/:saga', handler: async (req) => ok(await api.sagaDefinition(req.params.saga!)) },
    {
      method: 'GET',
      path: '/v1/replay/targets',
      handler: async (req) => {
        const q = parseWith(replayTargetParams, searchToObject(req.query), 'replay query');
        return ok(await api.replayTargets({ olderThanMs: q.olderThan ?? 0, ...(q.saga ? { saga: q.saga } : {}), ...(q.limit ? { limit: q.limit } : {}) }));
      },
    },
    {
      method: 'GET',
      path: '/v1/sagas/versions',
      handler: async (req) => ok(await api.sagaVersions(parseWith(sagaVersionsParams, searchToObject(req.query), 'saga versions query').saga)),
    },
    {
      method: 'POST',
      path: '/v1/sagas/:saga/migrate',
      handler: async (req) => {
        const b = parseWith(migrateRequestSchema, await req.body(), 'migrate request');
        return ok(await api.migrateSagas({ saga: req.params.saga!, from: b.from, to: b.to, dryRun: b.dryRun ?? false, ...(b.batchSize ? { batchSize: b.batchSize } : {}), ...(b.after ? { after: b.after } : {}) }));
      },
    },
    { method: 'GET', path: '/v1/sagas/:saga/:key', handler: async (req) => ok(await api.showSaga(req.params.saga!, req.params.key!)) },
    { method: 'GET', path: '/v1/sagas/:saga/:key/history', handler: async (req) => ok(await api.sagaHistory(req.params.saga!, req.params.key!)) },
    { method: 'GET', path: '/v1/sagas/:saga/:key/why', handler: async (req) => ok(await api.whySaga(req.params.saga!, req.params.key!)) },
    {
      method: 'POST',
      path: '/v1/sagas/:saga/:key/replay',
      handler: async (req) => {
        const { dryRun } = parseWith(replayRequestSchema, await req.body(), 'replay request');
        return ok(await api.replay(req.params.saga!, req.params.key!, { dryRun: dryRun ?? false }));
      },
    },
    {
      method: 'POST',
      path: '/v1/sagas/:saga/:key/resume',
      handler: async (req) => {
        const { reason } = parseWith(discardRequestSchema, await req.body(), 'resume request');
        return ok(await api.resumeSaga(req.params.saga!, req.params.key!, { reason }), 202);
      },
    },
    ...sourcingRoutes(api),
  ];
}
