import { StreamGapError } from '../errors.js';
import type { EventEnvelope } from '../events/envelope.js';
import type { Clock } from '../ports/clock.js';
import type { AppendOptions, AppendResult, EventStore, StoredEvent } from '../ports/event-store.js';
import { Aggregate, type AggregateCommand, type AggregateDefinition, type AggregateEventSchemas } from './aggregate.js';

/** Default of `snapshotFrequency` (`EVENT_STORE_SNAPSHOT_FREQUENCY`). */
export const DEFAULT_SNAPSHOT_FREQUENCY = 10;

/** Events read per page while loading (bounds the memory one read holds, whatever the stream's length). */
const LOAD_PAGE = 1000;

/** What a snapshot of an aggregate stores: the state and the schema version it was built under. */
export interface AggregateSnapshot<S> {
  aggregateType: string;
  schemaVersion: number;
  state: S;
}

/** Options of {@link AggregateRepository}. */
export interface AggregateRepositoryOptions {
  /**
   * Take a snapshot once a save leaves the stream this many versions past the last valid snapshot
   * (`EVENT_STORE_SNAPSHOT_FREQUENCY`). @default 10
   */
  snapshotFrequency?: number;
  /** The time of decided events. @default the system clock */
  clock?: Clock;
  /**
   * How pending events are appended. @default `store.append`. The daemon passes its publish path (group
   * commit, then its followers woken), so an aggregate's events take the one flow every event takes.
   */
  append?: (streamId: string, events: EventEnvelope[], options: AppendOptions) => Promise<AppendResult>;
  /** A snapshot that could not be written (the save itself succeeded: its events are stored). @default ignored */
  onSnapshotError?: (err: unknown, streamId: string) => void;
}

/** What {@link AggregateRepository.save} did. */
export interface AggregateSaveResult {
  /** Stream version after the save. */
  version: number;
  events: StoredEvent[];
  /** True when a snapshot was written at `version`. */
  snapshot: boolean;
}

interface Loaded {
  /** Version of the snapshot the load started from (0: none, or one of another schema version). */
  snapshotVersion: number;
  /** A snapshot exists but was taken under another schema version: replace it at the next save. */
  stale: boolean;
}

/**
 * Loads and saves aggregates of one definition over the {@link EventStore} port.
 *
 * `load(id)` starts from the latest snapshot (when it was taken under the definition's schema version) and
 * folds the events after it; `save(aggregate)` appends the pending events with the loaded version as the
 * expected one (a `ConcurrencyError` when another writer got there first: load again and retry) and takes
 * a snapshot every `snapshotFrequency` versions.
 *
 * @example
 * const contexts = new AggregateRepository(store, Context, { snapshotFrequency: 10 });
 * const ctx = await contexts.load('c1');
 * ctx.execute('create', { name: 'Release 1.4', agentId: 'a1', createdBy: 'a1' });
 * await contexts.save(ctx);
 */
export class AggregateRepository<S, E extends AggregateEventSchemas, C extends Record<string, AggregateCommand<S, E, never>>> {
  private readonly frequency: number;
  private readonly loaded = new WeakMap<Aggregate<S, E, C>, Loaded>();

  constructor(
    private readonly store: EventStore,
    readonly definition: AggregateDefinition<S, E, C>,
    private readonly options: AggregateRepositoryOptions = {},
  ) {
    this.frequency = options.snapshotFrequency ?? DEFAULT_SNAPSHOT_FREQUENCY;
  }

  /** The aggregate `id` as stored: version 0 and the initial state when its stream has no events. */
  async load(id: string): Promise<Aggregate<S, E, C>> {
    const streamId = this.definition.streamId(id);
    const snapshot = await this.store.loadSnapshot<AggregateSnapshot<S>>(streamId);
    const usable = snapshot !== undefined && this.fits(snapshot.state) ? snapshot : undefined;
    let state = usable ? usable.state.state : this.definition.initialState();
    let version = usable?.version ?? 0;
    for (;;) {
      const page = await this.store.readStream(streamId, { fromVersion: version + 1, limit: LOAD_PAGE });
      const first = page[0];
      if (first && first.version !== version + 1) throw new StreamGapError(streamId, version + 1, first.version, usable !== undefined);
      state = this.definition.fold(page, state);
      version = page.at(-1)?.version ?? version;
      if (page.length < LOAD_PAGE) break;
    }
    const aggregate = new Aggregate(this.definition, id, { state, version }, this.options.clock ? { clock: this.options.clock } : {});
    this.loaded.set(aggregate, { snapshotVersion: usable?.version ?? 0, stale: snapshot !== undefined && !usable });
    return aggregate;
  }

  /**
   * Appends the aggregate's pending events, expecting the stream at the version it was loaded at (or
   * `no-stream` for a new one). Nothing pending: nothing written. On success the events are committed on
   * the aggregate; a snapshot follows when due (a failed snapshot does not fail the save).
   */
  async save(aggregate: Aggregate<S, E, C>, options: { expectedVersion?: number } = {}): Promise<AggregateSaveResult> {
    if (aggregate.pending.length === 0) return { version: aggregate.version, events: [], snapshot: false };
    const expected = options.expectedVersion ?? aggregate.version;
    const append = this.options.append ?? ((s, e, o) => this.store.append(s, e, o));
    const result = await append(aggregate.streamId, [...aggregate.pending], { expectedVersion: expected === 0 ? 'no-stream' : expected });
    aggregate.markCommitted(result.nextVersion);
    const info = this.loaded.get(aggregate) ?? { snapshotVersion: 0, stale: false };
    const due = info.stale || result.nextVersion - info.snapshotVersion >= this.frequency;
    let snapshot = false;
    if (due) {
      try {
        const record: AggregateSnapshot<S> = { aggregateType: this.definition.type, schemaVersion: this.definition.schemaVersion, state: aggregate.state };
        await this.store.saveSnapshot(aggregate.streamId, result.nextVersion, record);
        this.loaded.set(aggregate, { snapshotVersion: result.nextVersion, stale: false });
        snapshot = true;
      } catch (err) {
        this.options.onSnapshotError?.(err, aggregate.streamId);
      }
    }
    return { version: result.nextVersion, events: result.events, snapshot };
  }

  /** A snapshot this definition can start from: its own type and schema version. */
  private fits(value: unknown): value is AggregateSnapshot<S> {
    if (typeof value !== 'object' || value === null) return false;
    const v = value as Partial<AggregateSnapshot<S>>;
    return v.aggregateType === this.definition.type && v.schemaVersion === this.definition.schemaVersion && 'state' in v;
  }
}
