import { z } from 'zod';
import type { SourcingApi } from '../app/sourcing-api.js';
import { parseWith } from './request-schemas.js';
import { adminRoute, readRoute, type Route } from './routes.js';

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
    readRoute('/v1/projections', async () => ({ body: await api.listProjections() })),
    readRoute('/v1/projections/:name', async (req) => ({ body: await api.projectionStatus(req.params.name!) })),
    adminRoute('/v1/projections/:name/reset', 'projection.reset', async (req) => {
      const state = await api.resetProjection(req.params.name!);
      return { body: state, audit: { after: state } };
    }),
    adminRoute('/v1/events/replay', 'events.replay', async (req) => {
      const r = parseWith(replayEventsSchema, await req.body(), 'replay request');
      const result = await api.replayEvents({
        target: r.target, dryRun: r.dryRun,
        ...(r.types ? { types: r.types } : {}), ...(r.from ? { from: r.from } : {}), ...(r.to ? { to: r.to } : {}), ...(r.limit ? { limit: r.limit } : {}),
      });
      return { body: result, audit: { target: JSON.stringify(r.target), after: result } };
    }),
    adminRoute('/v1/retention', 'events.retention', async (req) => {
      const r = parseWith(retentionSchema, await req.body(), 'retention request');
      const result = await api.retention({ dryRun: r.dryRun, ...(r.olderThanDays === undefined ? {} : { olderThanDays: r.olderThanDays }) });
      return { body: result, audit: { target: 'events', after: result } };
    }),
  ];
}
