import { z } from 'zod';
import type { SourcingApi } from '../app/sourcing-api.js';
import { parseWith } from './request-schemas.js';
import type { Route } from './routes.js';

const bound = z.union([z.strictObject({ time: z.iso.datetime({ offset: true }) }), z.strictObject({ position: z.number().int().min(0) })]);

const replayEventsSchema = z.strictObject({
  types: z.array(z.string().min(1).max(200)).max(50).optional(),
  from: bound.optional(),
  to: bound.optional(),
  target: z.union([z.strictObject({ bus: z.literal(true) }), z.strictObject({ projection: z.string().min(1).max(100) })]),
  dryRun: z.boolean().default(false),
  limit: z.number().int().min(1).max(1_000_000).optional(),
});

const retentionSchema = z.strictObject({
  dryRun: z.boolean().default(true),
  olderThanDays: z.number().int().min(0).max(36_500).optional(),
});

/** `/v1/projections`, `/v1/events/replay`, `/v1/retention` (documented in `docs/api.md` and `docs/sourcing.md`). */
export function sourcingRoutes(api: SourcingApi): Route[] {
  return [
    { method: 'GET', path: '/v1/projections', handler: async () => ({ body: await api.listProjections() }) },
    { method: 'GET', path: '/v1/projections/:name', handler: async (req) => ({ body: await api.projectionStatus(req.params.name!) }) },
    { method: 'POST', path: '/v1/projections/:name/reset', handler: async (req) => ({ body: await api.resetProjection(req.params.name!) }) },
    {
      method: 'POST',
      path: '/v1/events/replay',
      handler: async (req) => {
        const r = parseWith(replayEventsSchema, await req.body(), 'replay request');
        return {
          body: await api.replayEvents({
            target: r.target, dryRun: r.dryRun,
            ...(r.types ? { types: r.types } : {}), ...(r.from ? { from: r.from } : {}), ...(r.to ? { to: r.to } : {}), ...(r.limit ? { limit: r.limit } : {}),
          }),
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/retention',
      handler: async (req) => {
        const r = parseWith(retentionSchema, await req.body(), 'retention request');
        return { body: await api.retention({ dryRun: r.dryRun, ...(r.olderThanDays === undefined ? {} : { olderThanDays: r.olderThanDays }) }) };
      },
    },
  ];
}
