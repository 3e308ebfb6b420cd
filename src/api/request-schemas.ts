import { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { toIssues } from '../core/events/envelope.js';
import { isValidPattern } from '../core/events/pattern.js';
import { SagaStatus } from '../core/ports/saga-store.js';
import { MAX_QUERY_LIMIT } from '../core/store/event-query.js';
import { DURATION_HINT, parseDuration } from '../config/duration.js';

/** Request shapes checked at the HTTP edge (and by the CLI before it sends them). */

export const publishRequestSchema = z.strictObject({
  type: z.string().min(1).max(200),
  data: z.record(z.string(), z.unknown()),
  streamId: z.string().min(1).max(200).optional(),
  metadata: z.record(z.string().max(200), z.string().max(4096)).optional(),
  id: z.uuid().optional(),
});

/** Discard and resume: the reason may come in the body (else the `X-Sagaflow-Reason` header gives it). */
export const reasonRequestSchema = z.strictObject({ reason: z.string().trim().min(1).max(2000).optional() });

export const replayRequestSchema = z.strictObject({ dryRun: z.boolean().optional(), reason: z.string().trim().min(1).max(2000).optional() });

const limit = z.string().regex(/^\d+$/, `an integer from 1 to ${MAX_QUERY_LIMIT}`).transform(Number).pipe(z.number().int().min(1).max(MAX_QUERY_LIMIT));
const durationParam = z.string().transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: DURATION_HINT });
    return z.NEVER;
  }
  return ms;
});

export const eventsQueryParams = z.strictObject({
  type: z.array(z.string().refine(isValidPattern, 'a type pattern such as *, task.*, *.created')).max(50).optional(),
  stream: z.string().min(1).max(200).optional(),
  after: z.string().min(1).max(100).optional(),
  limit: limit.optional(),
});

export const deadLetterParams = z.strictObject({
  status: z.enum(['open', 'retried', 'discarded']).optional(),
  saga: z.string().min(1).max(200).optional(),
  handler: z.string().min(1).max(200).optional(),
  limit: limit.optional(),
});

const versionParam = z.string().regex(/^\d+$/, 'a positive integer').transform(Number).pipe(z.number().int().min(1));

export const sagaListParams = z.strictObject({
  saga: z.string().min(1).max(200).optional(),
  status: z.enum(Object.values(SagaStatus) as [SagaStatus, ...SagaStatus[]]).optional(),
  version: versionParam.optional(),
  stuck: durationParam.optional(),
  limit: limit.optional(),
});

export const sagaCountParams = z.strictObject({ saga: z.string().min(1).max(200).optional() });

export const replayTargetParams = z.strictObject({
  saga: z.string().min(1).max(200).optional(),
  olderThan: durationParam.optional(),
  limit: limit.optional(),
});

/** `GET /v1/audit`: `since` is an ISO time, or a duration meaning that long ago (`1h`). */
export const auditQueryParams = z.strictObject({
  since: z.string().max(100).transform((v, ctx) => {
    if (/^\d{4}-\d\d-\d\d/.test(v)) {
      if (!Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
    } else {
      const ms = parseDuration(v);
      if (ms !== undefined) return new Date(Date.now() - ms).toISOString();
    }
    ctx.addIssue({ code: 'custom', message: `an ISO time (2026-01-31T12:00:00Z) or ${DURATION_HINT} meaning that long ago` });
    return z.NEVER;
  }).optional(),
  limit: limit.optional(),
});

/** Parses with a schema or throws a {@link ValidationError} naming `what` and the field. */
export function parseWith<T extends z.ZodType>(schema: T, value: unknown, what: string): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw new ValidationError(what, toIssues(r.error));
  return r.data;
}

/** URLSearchParams → object; keys in `multi` become arrays. */
export function searchToObject(params: URLSearchParams, multi: readonly string[] = []): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of new Set(params.keys())) {
    if (key === '__proto__') continue;
    out[key] = multi.includes(key) ? params.getAll(key) : params.get(key);
  }
  return out;
}

const workerCount = (min: number, max: number) => z.number().int().min(min).max(max);

/** `POST /v1/workers/:name/register`. */
export const registerWorkerSchema = z.strictObject({
  handles: z.array(z.string().min(1).max(200)).min(1).max(100),
  maxAttempts: workerCount(1, 1000).optional(),
});

/** `POST /v1/workers/:name/claim`. */
export const claimRequestSchema = z.strictObject({
  /** This worker process, as shown by `status` (e.g. `host:pid`). */
  workerId: z.string().min(1).max(200),
  max: workerCount(1, 100).default(1),
  leaseMs: workerCount(100, 3_600_000).default(30_000),
  waitMs: workerCount(0, 30_000).default(20_000),
});

/** `POST /v1/workers/:name/commands/:eventId/complete`: the replies are checked like published events. */
export const completeRequestSchema = z.strictObject({
  leaseToken: z.uuid(),
  replies: z.array(z.unknown()).max(100).default([]),
});

/** `POST /v1/workers/:name/commands/:eventId/fail`. */
export const failRequestSchema = z.strictObject({
  leaseToken: z.uuid(),
  attempt: workerCount(1, 1_000_000),
  error: z.strictObject({ message: z.string().max(4000), code: z.string().max(100).optional() }),
  /** Dead-letter now: retrying cannot help (the command fails its schema). */
  final: z.boolean().optional(),
});

/** `POST /v1/workers/:name/commands/:eventId/extend`. */
export const extendRequestSchema = z.strictObject({ leaseToken: z.uuid(), leaseMs: workerCount(100, 3_600_000) });

export const sagaVersionsParams = z.strictObject({ saga: z.string().min(1).max(200).optional() });

/** Body of `POST /v1/sagas/:saga/migrate` (one batch). */
export const migrateRequestSchema = z.strictObject({
  from: z.number().int().min(1),
  to: z.number().int().min(1),
  dryRun: z.boolean().optional(),
  batchSize: z.number().int().min(1).max(10_000).optional(),
  after: z.string().min(1).max(200).optional(),
});
