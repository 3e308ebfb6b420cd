import { z } from 'zod';
import { isValidPattern } from '../core/events/pattern.js';
import { DURATION_HINT, parseDuration } from './duration.js';

/**
 * The one config schema. Sources (defaults, YAML, environment, flags) produce raw values — strings
 * from the environment and flags, anything from YAML — and this schema turns them into typed
 * values. Each field's user-facing names live in `fields.ts`, so an error can name the key the
 * user actually wrote.
 */

const intIn = (min: number, max: number) =>
  z.union([z.number(), z.string().trim().regex(/^-?\d+$/).transform(Number)]).pipe(z.number().int().min(min).max(max));

const duration = z
  .union([z.number(), z.string()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: DURATION_HINT });
      return z.NEVER;
    }
    return ms;
  });

const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => ['true', '1', 'yes'].includes(v))]);

const nonEmpty = z.string().trim().min(1).max(2000);
/** Host names: a YAML list, or a comma-separated string (environment, flags). */
const hostList = z
  .union([z.array(z.string()), z.string().transform((v) => v.split(','))])
  .transform((list) => list.map((h) => h.trim().toLowerCase()).filter((h) => h.length > 0))
  .pipe(z.array(z.string().min(1).max(255).regex(/^[a-z0-9.\-_:[\]]+$/, 'a host name or IP address')).min(1).max(100));

/** Browser origins (`https://ops.example.com`): a YAML list, or a comma-separated string. */
const originList = z
  .union([z.array(z.string()), z.string().transform((v) => v.split(','))])
  .transform((list) => list.map((o) => o.trim().toLowerCase()).filter((o) => o.length > 0))
  .pipe(z.array(z.string().max(255).regex(/^https?:\/\/[a-z0-9.\-_:[\]]+$/, 'an origin: http(s)://host[:port], no path')).min(1).max(100));

/** `postgres://` or `postgresql://` URL. */
const databaseUrl = z
  .string()
  .trim()
  .refine((v) => /^postgres(ql)?:\/\/.+/.test(v) && URL.canParse(v), 'a postgres:// URL');

const redisUrl = z
  .string()
  .trim()
  .refine((v) => /^rediss?:\/\/.+/.test(v) && URL.canParse(v), 'a redis:// URL');

/** An API token with a name (recorded in the audit log) and a scope. */
export const apiTokenSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_.@-]{1,64}$/, 'a name of 1 to 64 letters, digits, _ . @ -'),
  token: z.string().min(16).max(1024).regex(/^[^\s,]+$/, 'no spaces or commas'),
  scope: z.enum(['read', 'worker', 'admin']),
});

/**
 * API tokens: a YAML list of { name, token, scope }, or (environment) `name:scope:token` entries separated by
 * commas. Names and tokens must be unique.
 */
const apiTokens = z
  .union([
    z.array(z.unknown()),
    z.string().transform((v) =>
      v.split(',').map((e) => e.trim()).filter(Boolean).map((e) => {
        const [name, scope, ...rest] = e.split(':');
        return { name, scope, token: rest.join(':') };
      }),
    ),
  ])
  .pipe(z.array(apiTokenSchema).max(1000))
  .superRefine((list, ctx) => {
    list.forEach((t, i) => {
      const earlier = list.slice(0, i);
      if (earlier.some((e) => e.name === t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `the name "${t.name}" is used twice; token names must be unique` });
      if (earlier.some((e) => e.token === t.token)) ctx.addIssue({ code: 'custom', path: [i, 'token'], message: 'this token is given twice; tokens must be unique' });
    });
  });

/** A subscription entry as in the design notes' YAML. */
export const subscriptionSchema = z.strictObject({
  event_type: z.string().refine(isValidPattern, 'a type pattern such as *, task.*, *.created or task.created'),
  handlers: z.array(z.string().min(1).max(200)).min(1),
});

export const configSchema = z.strictObject({
  /** Where the embedded database, the API token and daemon.json live. */
  dataDir: nonEmpty,
  database: z.strictObject({
    url: databaseUrl.optional(),
    schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/),
  }),
  store: z.strictObject({
    /** Unset: `pglite` without a database URL, `postgres` with one. */
    type: z.enum(['postgres', 'pglite']).optional(),
    snapshotFrequency: intIn(1, 1_000_000),
    retentionDays: intIn(0, 36_500),
    /** What the retention job does with expired events: delete them, or move them to `events_archive`. */
    retentionMode: z.enum(['delete', 'archive']),
  }),
  bus: z.strictObject({
    type: z.enum(['memory', 'redis', 'hybrid']),
    bufferSize: intIn(1, 10_000_000),
    workers: intIn(1, 1024),
    overflow: z.enum(['wait', 'reject']),
  }),
  redis: z.strictObject({
    url: redisUrl.optional(),
    channelPrefix: z.string().min(1).max(200),
  }),
  processing: z.strictObject({
    batchSize: intIn(1, 100_000),
    /** Saga steps committed together in one transaction by the daemon's saga reader (1: a commit per step). */
    stepsPerTransaction: intIn(1, 10_000),
    /** Saga partitions: the unit of work split across daemons (the same on every daemon of a schema). */
    partitions: intIn(1, 4096),
    /** How long a daemon's leases last without renewal: a dead daemon's work moves after at most this long. */
    leaseTtlMs: duration.pipe(z.number().int().min(500)),
    timeoutMs: duration.pipe(z.number().int().min(1)),
    retry: z.strictObject({
      maxAttempts: intIn(1, 1000),
      backoff: z.enum(['exponential', 'fixed']),
      initialMs: duration.pipe(z.number().int().min(0)),
      maxMs: duration.pipe(z.number().int().min(0)),
    }),
  }),
  subscriptions: z.array(subscriptionSchema).max(1000),
  http: z.strictObject({
    host: z.string().min(1).max(255),
    port: intIn(0, 65_535),
    token: z.string().min(16).max(1024).optional(),
    /** Named, scoped tokens, beside the single `token` (an admin named `default`). */
    tokens: apiTokens.optional(),
    /** `/metrics` without a token. */
    metricsPublic: bool,
    /** Mutating calls per token: sustained per minute (0 = no limit) and burst. */
    rateLimit: z.strictObject({ perMinute: intIn(0, 1_000_000), burst: intIn(1, 1_000_000) }),
    /** `statement_timeout` of the read routes' queries; 0 = none beyond the pool's 30s. */
    statementTimeoutMs: duration.pipe(z.number().int().min(0).max(3_600_000)),
    maxBodyBytes: intIn(1024, 64 * 1024 * 1024),
    /** Host names requests may carry (DNS rebinding); unset: loopback names for a loopback address, else any. */
    allowedHosts: hostList.optional(),
    /** Browser origins that may open the WebSocket `/ws` besides the daemon's own (its dashboard). */
    allowedOrigins: originList.optional(),
  }),
  log: z.strictObject({
    level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']),
    format: z.enum(['auto', 'pretty', 'json']),
  }),
  /**
   * Module or directory of saga definitions (JavaScript or TypeScript); unset = the bundled `sagas/`, refused
   * over a database that holds instances of other sagas.
   */
  sagas: nonEmpty.optional(),
  /** Events of types no saga declares are rejected at `publish`. */
  strictTypes: bool,
  /** How long SIGINT/SIGTERM waits for in-flight work before forcing. */
  shutdownTimeoutMs: duration.pipe(z.number().int().min(0)),
});

/** The resolved configuration. */
export type SagaflowConfig = z.output<typeof configSchema> & {
  store: { type: 'postgres' | 'pglite' };
};

/** Subscription entry (`events.subscriptions[]`). */
export type SubscriptionConfig = z.output<typeof subscriptionSchema>;

/** Defaults, in the raw form the sources use. */
export const defaults = {
  dataDir: './.sagaflow',
  database: { schema: 'sagaflow' },
  store: { snapshotFrequency: 10, retentionDays: 90, retentionMode: 'delete' },
  bus: { type: 'memory', bufferSize: 10_000, workers: 10, overflow: 'wait' },
  redis: { channelPrefix: 'sagaflow:events' },
  processing: { batchSize: 100, stepsPerTransaction: 32, partitions: 16, leaseTtlMs: '5s', timeoutMs: '30s', retry: { maxAttempts: 3, backoff: 'exponential', initialMs: '100ms', maxMs: '30s' } },
  subscriptions: [],
  http: { host: '127.0.0.1', port: 7070, maxBodyBytes: 1024 * 1024, metricsPublic: false, rateLimit: { perMinute: 600, burst: 100 }, statementTimeoutMs: '5s' },
  log: { level: 'info', format: 'auto' },
  strictTypes: true,
  shutdownTimeoutMs: '10s',
} as const;
