import { DuplicateEventError } from '../core/errors.js';
import { jsonByteLength, type EventEnvelope } from '../core/events/envelope.js';
import type { EventTypeRegistry } from '../core/events/registry.js';
import { matchesPattern } from '../core/events/pattern.js';
import type { Clock } from '../core/ports/clock.js';
import { systemClock } from '../core/ports/clock.js';
import type {
  AppendOptions, AppendResult, EventQuery, EventStore, ReadAllOptions, ReadAllResult, ReadStreamOptions, Snapshot, StoredEvent,
} from '../core/ports/event-store.js';
import { checkExpectedVersion, checkRetriedBatch, validateBatch } from '../core/store/append-check.js';
import { normalizeQuery, parseCursor, parseExpectedVersion, parseStreamId } from '../core/store/event-query.js';

export interface MemoryEventStoreOptions {
  registry?: EventTypeRegistry;
  maxEventBytes?: number;
  clock?: Clock;
}

/**
 * In-memory event store: the reference implementation of the port. Appends are synchronous
 * inside one tick, so commit order equals position order and the global log has no gaps by construction.
 */
export class MemoryEventStore implements EventStore {
  private readonly log: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly byId = new Map<string, StoredEvent>();
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly clock: Clock;

  constructor(private readonly options: MemoryEventStoreOptions = {}) {
    this.clock = options.clock ?? systemClock;
  }

  /** Checks a batch without writing it: throws what {@link append} would reject; returns the validated batch. */
  validate(streamId: string, events: EventEnvelope[], options: AppendOptions = {}): EventEnvelope[] {
    parseStreamId(streamId);
    parseExpectedVersion(options.expectedVersion);
    return validateBatch(streamId, events, this.options.registry, this.options.maxEventBytes);
  }

  async append(streamId: string, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    const expected = parseExpectedVersion(options.expectedVersion);
    const batch = this.validate(streamId, events, options);
    const existing = batch.map((e) => this.byId.get(e.id)).filter((e): e is StoredEvent => e !== undefined);
    const stream = this.streams.get(streamId) ?? [];
    if (existing.length === batch.length) {
      checkRetriedBatch(streamId, existing, batch);
      return { nextVersion: stream.length, events: existing, duplicate: true };
    }
    if (existing.length > 0) throw new DuplicateEventError(streamId, existing.map((e) => e.id));
    checkExpectedVersion(streamId, expected, stream.length);
    const stored = batch.map((e, i) => {
      const position = this.log.length + i + 1;
      return { ...structuredClone(e), version: stream.length + i + 1, position, cursor: `0.${position}` } satisfies StoredEvent;
    });
    for (const e of stored) {
      this.log.push(e);
      stream.push(e);
      this.byId.set(e.id, e);
    }
    this.streams.set(streamId, stream);
    return { nextVersion: stream.length, events: stored.map((e) => structuredClone(e)), duplicate: false };
  }

  async readStream(streamId: string, options: ReadStreamOptions = {}): Promise<StoredEvent[]> {
    const from = options.fromVersion ?? 1;
    const all = (this.streams.get(streamId) ?? []).filter((e) => e.version >= from);
    return structuredClone(options.limit === undefined ? all : all.slice(0, options.limit));
  }

  async streamVersion(streamId: string): Promise<number> {
    return this.streams.get(streamId)?.length ?? 0;
  }

  async readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const after = options.after === undefined ? 0 : Number(parseCursor(options.after).position);
    const events = this.log.slice(after, after + (options.limit ?? 1000));
    return { events: structuredClone(events), next: events.at(-1)?.cursor ?? options.after };
  }

  async query(query: EventQuery): Promise<StoredEvent[]> {
    const q = normalizeQuery(query);
    const rows = this.log.filter(
      (e) =>
        (!q.types || q.types.some((p) => matchesPattern(p, e.type))) &&
        (!q.streamIds || q.streamIds.includes(e.streamId)) &&
        (!q.aggregateType || q.aggregateType === e.aggregateType) &&
        (!q.from || new Date(e.timestamp) >= q.from) &&
        (!q.to || new Date(e.timestamp) < q.to) &&
        (!q.metadata || Object.entries(q.metadata).every(([k, v]) => e.metadata[k] === v)),
    );
    if (q.order === 'desc') rows.reverse();
    let page = rows.slice(0, q.limit);
    if (q.maxBytes !== undefined) {
      let bytes = 0;
      const fit = page.findIndex((e, i) => (bytes += jsonByteLength(e.data) + jsonByteLength(e.metadata)) > q.maxBytes! && i > 0);
      if (fit >= 0) page = page.slice(0, fit);
    }
    return structuredClone(page);
  }

  async saveSnapshot<S>(streamId: string, version: number, state: S): Promise<void> {
    // As the Postgres store: a snapshot never replaces a newer one (a slower writer's may arrive late).
    if ((this.snapshots.get(streamId)?.version ?? 0) > version) return;
    this.snapshots.set(streamId, { streamId, version, state: structuredClone(state), createdAt: this.clock.now().toISOString() });
  }

  async loadSnapshot<S>(streamId: string): Promise<Snapshot<S> | undefined> {
    const s = this.snapshots.get(streamId);
    return s ? (structuredClone(s) as Snapshot<S>) : undefined;
  }
}
