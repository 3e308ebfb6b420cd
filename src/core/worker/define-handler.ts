import type { Logger } from 'pino';
import type { z } from 'zod';
import { SagaDefinitionError } from '../errors.js';
import type { EventEnvelope, EventMetadata } from '../events/envelope.js';
import { isValidPattern } from '../events/pattern.js';

/** What a handler answers with: an event of its own (a reply to the saga, or any other event). */
export interface Reply {
  type: string;
  data: Record<string, unknown>;
  /** @default the command's stream (the saga instance's key for a saga's command) */
  streamId?: string;
  aggregateType?: string;
  /** Merged over the defaults: `correlationId` (the command's), `causationId` (the command's id), `worker`. */
  metadata?: EventMetadata;
}

/** What `handle` gets beside the command. */
export interface CommandContext {
  /** 1 on first delivery; more after a failure, a timeout or a worker that died holding the command. */
  readonly attempt: number;
  /** The command's event id: the same on every delivery. Use it as the idempotency key of side effects. */
  readonly idempotencyKey: string;
  /** Aborted when the attempt times out or the worker stops. */
  readonly signal: AbortSignal;
  readonly logger: Logger;
}

/** Delivery settings of one handler; each defaults to the daemon's `EVENT_PROCESSING_*` settings. */
export interface HandlerDelivery {
  /** Attempts before the command is dead-lettered. */
  maxAttempts?: number;
  /** How long one attempt may run; past it the attempt fails (and its lease ends a little later). */
  timeoutMs?: number;
  /** Commands of this handler in flight at once, per worker process. @default 8 */
  concurrency?: number;
}

/** What `defineHandler` takes. */
export interface HandlerConfig<TData extends Record<string, unknown>> extends HandlerDelivery {
  /** Unique name: the worker's identity in status, dead letters and the API (`[A-Za-z0-9_.:-]`, ≤ 100). */
  name: string;
  /** Event types (or patterns such as `stock.*`) this handler takes. */
  handles: string | readonly string[];
  /**
   * zod schema of the command's `data`. A command that fails it is dead-lettered at once (retrying cannot
   * help), with the field named. Without it `data` is passed as stored.
   */
  schema?: z.ZodType<TData>;
  /** Does the work. Returns the replies to publish (none, one or several); throws to fail the attempt. */
  handle: (command: EventEnvelope<TData>, context: CommandContext) => Promise<Reply | readonly Reply[] | void> | Reply | readonly Reply[] | void;
}

/** A handler defined by {@link defineHandler}: run in process by the daemon or remotely by `sagaflow/worker`. */
export interface HandlerDefinition<TData extends Record<string, unknown> = Record<string, unknown>> extends HandlerDelivery {
  readonly kind: 'sagaflow.handler';
  readonly name: string;
  readonly handles: readonly string[];
  readonly schema: z.ZodType<TData> | undefined;
  /** (A method, so a handler of specific data fits a list of handlers of any data.) */
  handle(command: EventEnvelope<TData>, context: CommandContext): ReturnType<HandlerConfig<TData>['handle']>;
}

const workerName = /^[A-Za-z0-9_.:-]{1,100}$/;

/** Checks a worker name (the same rule for handlers and for remote workers registering over the API). */
export function isValidWorkerName(name: string): boolean {
  return workerName.test(name);
}

/**
 * Defines a command handler: the service side of a saga's command/reply step. The daemon runs it in
 * process when the sagas module exports it; `createWorker` from `sagaflow/worker` runs it in another
 * process against the daemon's HTTP API. Either way it gets each matching command at least once (with
 * retries, a timeout and dead letters), and its replies are published with correlation and causation set.
 *
 * @example
 * export const reserveStock = defineHandler({
 *   name: 'stock',
 *   handles: 'stock.reserve.requested',
 *   schema: z.object({ orderId: z.string(), sku: z.string() }),
 *   handle: async (command, ctx) => {
 *     await inventory.reserve(command.data.sku, { idempotencyKey: ctx.idempotencyKey });
 *     return { type: 'stock.reserved', data: { orderId: command.data.orderId } };
 *   },
 * });
 */
export function defineHandler<TData extends Record<string, unknown> = Record<string, unknown>>(config: HandlerConfig<TData>): HandlerDefinition<TData> {
  const fail = (problem: string) => new SagaDefinitionError(String(config.name), problem);
  if (typeof config.name !== 'string' || !isValidWorkerName(config.name)) {
    throw fail('a handler name is 1-100 characters of letters, digits and _ . : -');
  }
  const handles = typeof config.handles === 'string' ? [config.handles] : [...(config.handles ?? [])];
  if (handles.length === 0) throw fail('handles names no event type');
  const bad = handles.find((p) => typeof p !== 'string' || !isValidPattern(p));
  if (bad !== undefined) throw fail(`handles "${String(bad)}" is not an event type or pattern (e.g. "stock.reserve.requested", "stock.*")`);
  if (typeof config.handle !== 'function') throw fail('handle must be a function');
  for (const key of ['maxAttempts', 'timeoutMs', 'concurrency'] as const) {
    const v = config[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) throw fail(`${key} must be a positive integer`);
  }
  return {
    kind: 'sagaflow.handler',
    name: config.name,
    handles,
    schema: config.schema,
    handle: config.handle,
    ...(config.maxAttempts === undefined ? {} : { maxAttempts: config.maxAttempts }),
    ...(config.timeoutMs === undefined ? {} : { timeoutMs: config.timeoutMs }),
    ...(config.concurrency === undefined ? {} : { concurrency: config.concurrency }),
  };
}

/** True for a value made by {@link defineHandler} (how a sagas module's exports are sorted). */
export function isHandlerDefinition(value: unknown): value is HandlerDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'sagaflow.handler';
}
