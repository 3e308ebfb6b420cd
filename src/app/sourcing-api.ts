import type { RetentionReport } from '../core/ports/retention.js';

/**
 * The event-sourcing part of the operator contract: projections, event replay and retention. Served by the
 * HTTP API (`/v1/projections`, `/v1/events/replay`, `/v1/retention`), its client, and the direct mode.
 */

/** A projection and where it stands. */
export interface ProjectionState {
  name: string;
  handles: string[];
  delivery: 'transactional' | 'at-least-once';
  /** Accepts `events replay --to-projection`. */
  replay: boolean;
  /** Its checkpoint, undefined before it first ran. */
  cursor?: string;
  /** Position of the last event it passed (when still stored). */
  position?: number;
  /** Events stored after its checkpoint. */
  lag: number;
  /** The daemon running it now (holding its lease). */
  owner?: string;
  updatedAt?: string;
}

/** Progress of a rebuild: events left to read. */
export interface RebuildProgress {
  lag: number;
  /** Lag when the rebuild started. */
  total: number;
}

/** What `events replay` sends again. Times are ISO-8601; positions are the log's global positions. */
export interface ReplayEventsRequest {
  /** Type patterns (`task.*`); all types when absent. */
  types?: string[];
  from?: { time: string } | { position: number };
  to?: { time: string } | { position: number };
  /** `bus`: to the transport's subscribers that opted in; `projection`: to that projection's `apply`. */
  target: { bus: true } | { projection: string };
  dryRun: boolean;
  /** At most this many events. @default 100000 */
  limit?: number;
}

export interface ReplayEventsResult {
  /** Mark in each replayed event's `metadata.replay`. */
  replayId: string;
  dryRun: boolean;
  target: string;
  /** Events matched (and, unless a dry run, sent). */
  matched: number;
  firstPosition?: number;
  lastPosition?: number;
  /** Per type. */
  byType: Array<{ type: string; count: number }>;
}

export interface RetentionRequest {
  dryRun: boolean;
  /** Overrides `EVENT_STORE_RETENTION_DAYS` for this run. */
  olderThanDays?: number;
}

/** What a retention pass found and removed (or, in a dry run, would remove). */
export type RetentionResult = RetentionReport;

export interface SourcingApi {
  listProjections(): Promise<ProjectionState[]>;
  projectionStatus(name: string): Promise<ProjectionState>;
  /** Empties the projection (its `reset`) and moves its checkpoint back to its start; the daemon running it starts over. */
  resetProjection(name: string): Promise<ProjectionState>;
  /** Reset, then catch up to the head of the log (here, or on the daemon that takes it), reporting progress. */
  rebuildProjection(name: string, options?: { onProgress?: (p: RebuildProgress) => void; timeoutMs?: number }): Promise<ProjectionState>;
  replayEvents(request: ReplayEventsRequest): Promise<ReplayEventsResult>;
  retention(request: RetentionRequest): Promise<RetentionResult>;
}
