import type { WorkService } from '../app/work-service.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import { claimRequestSchema, completeRequestSchema, extendRequestSchema, failRequestSchema, parseWith, registerWorkerSchema } from './request-schemas.js';
import { Scope } from './auth.js';
import { readRoute, type Route } from './routes.js';

/**
 * `/v1/workers`: remote workers (`sagaflow/worker`) register, claim commands under a lease (long-poll),
 * and complete (with replies) or fail them. Their POST routes need the `worker` scope (or `admin`) and are not
 * audited: they are the workers' protocol, not operator changes (each command's outcome is in the log). Documented in `docs/api.md` and `docs/workers.md`.
 */
export function workerRoutes(work: WorkService): Route[] {
  return [
    readRoute('/v1/workers', async () => ({ body: { workers: await work.list() } })),
    {
      method: 'POST',
      scope: Scope.Worker,
      path: '/v1/workers/:name/register',
      handler: async (req) => {
        const body = parseWith(registerWorkerSchema, await req.body(), 'worker registration');
        await work.register({ name: req.params.name!, handles: body.handles, ...(body.maxAttempts ? { maxAttempts: body.maxAttempts } : {}) });
        return { body: { name: req.params.name } };
      },
    },
    {
      method: 'POST',
      scope: Scope.Worker,
      path: '/v1/workers/:name/claim',
      handler: async (req) => {
        const body = parseWith(claimRequestSchema, await req.body(), 'claim');
        const commands = await work.claim(req.params.name!, { max: body.max, leaseMs: body.leaseMs, waitMs: body.waitMs, by: body.workerId }, req.signal);
        return { body: { commands } };
      },
    },
    {
      method: 'POST',
      scope: Scope.Worker,
      path: '/v1/workers/:name/commands/:eventId/complete',
      handler: async (req) => {
        const body = parseWith(completeRequestSchema, await req.body(), 'completion');
        await work.complete(req.params.name!, req.params.eventId!, body.leaseToken, body.replies as EventEnvelope[]);
        return { body: { completed: true } };
      },
    },
    {
      method: 'POST',
      scope: Scope.Worker,
      path: '/v1/workers/:name/commands/:eventId/fail',
      handler: async (req) => {
        const body = parseWith(failRequestSchema, await req.body(), 'failure');
        const outcome = await work.fail(req.params.name!, req.params.eventId!, body.leaseToken, body.error, { attempt: body.attempt, ...(body.final ? { final: true } : {}) });
        return { body: { outcome } };
      },
    },
    {
      method: 'POST',
      scope: Scope.Worker,
      path: '/v1/workers/:name/commands/:eventId/extend',
      handler: async (req) => {
        const body = parseWith(extendRequestSchema, await req.body(), 'lease extension');
        await work.extend(req.params.name!, req.params.eventId!, body.leaseToken, body.leaseMs);
        return { body: { extended: true } };
      },
    },
  ];
}
