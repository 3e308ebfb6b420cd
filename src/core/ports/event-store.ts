import type { EventEnvelope } from '../events/envelope.js';
import type { ExpectedVersion } from '../errors.js';

/** An event as stored: the envelope plus its place in the global log. */
export interface StoredEvent extends EventEnvelope {
  /** Global sequence number; unique, increasing in allocation (not commit) order. */
  position: number;
  /** Opaque cursor of this event in the gap-free global order; pass to `readAll({ after })`. */
  cursor: string;
}

export interface AppendOptions {
  /** @default 'any' */
  expectedVersion?: ExpectedVersion;
}

export interface AppendResult {
  /** Stream version after the append. */
  nextVersion: number;
  /** The events as stored (with versions and positions). */
  events: StoredEvent[];
  /** True when every event id was already stored: an idempotent retry, nothing written. */
  duplicate: boolean;
}

export interface ReadStreamOptions {
  /** First version to return (inclusive). @default 1 */
  fromVersion?: number;
  /** @default unlimited */
  limit?: number;
}

export interface ReadAllOptions {
  /** Cursor of the last event already processed; omit to start at the beginning. */
  after?: string;
  /** @default 1000 */
  limit?: number;
}

export interface ReadAllResult {
  events: StoredEvent[];
  /** Cursor to pass as `after` next time (unchanged when no events were returned). */
  next: string | undefined;
}

/** Filters for {@link EventStore.query}. Every value reaches SQL as a bind parameter. */
export interface EventQuery {
  /** Type patterns (`*`, `task.*`, `*.created`, exact); any may match. */
  types?: string[];
  streamIds?: string[];
  aggregateType?: string;
  /** Inclusive lower bound on `timestamp`. */
  from?: string | Date;
  /** Exclusive upper bound on `timestamp`. */
  to?: string | Date;
  /** Metadata keys that must equal these values. */
  metadata?: Record<string, string>;
  /** @default 100, at most 10000 */
  limit?: number;
  /** Order by global position. @default 'asc' */
  order?: 'asc' | 'desc';
  /**
   * Stop once the events' data and metadata add up to this many bytes (of JSON); the first event is always
   * returned. Bounds what one query can load, whatever the events' sizes. @default no bound
   */
  maxBytes?: number;
}

export interface Snapshot<S = unknown> {
  streamId: string;
  version: number;
  state: S;
  createdAt: string;
}

/**
 * The event store: streams with optimistic concurrency, a gap-free global log, queries and snapshots.
 *
 * Appending an event id that is already stored is idempotent: when every event of the batch is
 * already stored (a retried append) nothing is written and `duplicate` is true; when only some are,
 * the append fails with `DuplicateEventError`.
 */
export interface EventStore {
  append(streamId: string, events: EventEnvelope[], options?: AppendOptions): Promise<AppendResult>;
  readStream(streamId: string, options?: ReadStreamOptions): Promise<StoredEvent[]>;
  /** Current version of a stream; 0 when it does not exist. */
  streamVersion(streamId: string): Promise<number>;
  /**
   * Reads the global log in gap-free order: an event whose transaction commits after a
   * higher-positioned one is never skipped by a reader that follows `next`.
   */
  readAll(options?: ReadAllOptions): Promise<ReadAllResult>;
  query(query: EventQuery): Promise<StoredEvent[]>;
  saveSnapshot<S>(streamId: string, version: number, state: S): Promise<void>;
  loadSnapshot<S>(streamId: string): Promise<Snapshot<S> | undefined>;
  close?(): Promise<void>;
}
