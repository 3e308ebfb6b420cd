import { ConfigError } from '../errors.js';
import { compilePattern, isValidPattern } from '../events/pattern.js';
import type { Queryable } from '../ports/db.js';
import type { StoredEvent } from '../ports/event-store.js';

/** Where a projection starts the first time it runs (and after `projections reset`). */
export type ProjectionStart = 'beginning' | 'now' | { position: number };

/** What `apply` gets beside the event. */
export interface ProjectionContext {
  /**
   * The projection's transaction (`transactional` projections): statements run here commit together with
   * the projection's checkpoint, so each event's effect on these tables happens exactly once. For
   * `at-least-once` projections, the database outside any transaction.
   */
  readonly db: Queryable;
  /** The daemon's schema, quoted for SQL (`"sagaflow"`): where a projection keeps its tables. */
  readonly schema: string;
  /** True when the event comes from `sagaflow events replay --to-projection` (not from the live log). */
  readonly replay: boolean;
}

/** What `defineProjection` takes. */
export interface ProjectionConfig {
  /** Unique name: its checkpoint, its lease and the CLI's handle (`[A-Za-z0-9_.:-]`, ≤ 100). */
  name: string;
  /** Event types or patterns (`task.*`) it reads; other events only move its checkpoint. */
  handles: string | readonly string[];
  /**
   * `transactional` (default): a page of events and the checkpoint commit in one transaction — writes
   * through `ctx.db` happen exactly once. `at-least-once`: `apply` runs outside a transaction and the
   * checkpoint is saved after; an effect outside the database may be repeated after a crash: dedupe by
   * `event.id`.
   */
  delivery?: 'transactional' | 'at-least-once';
  /** @default 'beginning' */
  start?: ProjectionStart;
  /** Accepts events of `sagaflow events replay --to-projection` (off by default: replays reach only those that opt in). */
  replay?: boolean;
  /** Creates the projection's tables (idempotent: `CREATE TABLE IF NOT EXISTS`); run before it starts. */
  setup?: (ctx: Omit<ProjectionContext, 'replay'>) => Promise<void>;
  /** Empties what it built (`projections reset` / `rebuild`), in the reset's transaction. */
  reset?: (ctx: Omit<ProjectionContext, 'replay'>) => Promise<void>;
  /** Applies one event. Throwing stops the projection at this event (retried with backoff, logged). */
  apply: (event: StoredEvent, ctx: ProjectionContext) => Promise<void> | void;
}

/** A projection defined by {@link defineProjection}; loaded by the daemon from the sagas module like sagas and handlers. */
export interface ProjectionDefinition {
  readonly kind: 'sagaflow.projection';
  readonly name: string;
  readonly handles: readonly string[];
  readonly delivery: 'transactional' | 'at-least-once';
  readonly start: ProjectionStart;
  readonly replay: boolean;
  /** True when the projection reads events of this type. */
  accepts(type: string): boolean;
  readonly setup: ProjectionConfig['setup'];
  readonly reset: ProjectionConfig['reset'];
  readonly apply: ProjectionConfig['apply'];
}

const projectionName = /^[A-Za-z0-9_.:-]{1,100}$/;

/**
 * Defines a projection: a read model built from the event log, kept by the one log follower (gap-free,
 * woken at once after appends, one active instance across daemons by lease, a durable checkpoint).
 *
 * @example
 * export const taskStatus = defineProjection({
 *   name: 'task-status',
 *   handles: 'task.*',
 *   setup: ({ db, schema }) => db.query(`CREATE TABLE IF NOT EXISTS ${schema}.task_status (task_id text PRIMARY KEY, status text NOT NULL)`),
 *   apply: (event, { db, schema }) => db.query(`INSERT INTO ${schema}.task_status ...`, [...]),
 * });
 */
export function defineProjection(config: ProjectionConfig): ProjectionDefinition {
  const fail = (problem: string) => new ConfigError(`projection "${String(config.name)}": ${problem}`, { key: 'projection', value: String(config.name) });
  if (typeof config.name !== 'string' || !projectionName.test(config.name)) throw fail('a projection name is 1-100 characters of letters, digits and _ . : -');
  const handles = typeof config.handles === 'string' ? [config.handles] : [...(config.handles ?? [])];
  if (handles.length === 0) throw fail('handles names no event type');
  const bad = handles.find((p) => typeof p !== 'string' || !isValidPattern(p));
  if (bad !== undefined) throw fail(`handles "${String(bad)}" is not an event type or pattern (e.g. "task.created", "task.*")`);
  if (typeof config.apply !== 'function') throw fail('apply must be a function');
  const delivery = config.delivery ?? 'transactional';
  if (delivery !== 'transactional' && delivery !== 'at-least-once') throw fail(`delivery is "transactional" or "at-least-once", not "${String(delivery)}"`);
  const start = config.start ?? 'beginning';
  if (start !== 'beginning' && start !== 'now' && !(typeof start === 'object' && Number.isInteger(start.position) && start.position >= 0)) {
    throw fail('start is "beginning", "now" or { position: <a non-negative integer> }');
  }
  const matchers = handles.map(compilePattern);
  return {
    kind: 'sagaflow.projection',
    name: config.name,
    handles,
    delivery,
    start,
    replay: config.replay ?? false,
    accepts: (type) => matchers.some((m) => m(type)),
    setup: config.setup,
    reset: config.reset,
    apply: config.apply,
  };
}

/** True for a value made by {@link defineProjection}. */
export function isProjectionDefinition(value: unknown): value is ProjectionDefinition {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'sagaflow.projection';
}

/** The checkpoint and lease name of a projection. */
export const projectionCheckpoint = (name: string) => `projection:${name}`;
