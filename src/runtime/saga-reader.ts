import type { Logger } from 'pino';
import { EventRelay } from '../core/bus/event-relay.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import { parseCursor } from '../core/store/event-query.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import type { LogReader } from '../core/bus/shared-log-reads.js';
import type { Fence } from '../core/ports/leases.js';
import type { CompletionStepGate } from '../core/ports/saga-repository.js';
import { partitionOf, type Ownership } from './ownership.js';
import type { SagaRuntime } from './saga-runtime.js';
import type { StepOutcome } from './saga-step.js';

/** Checkpoints of the saga partitions: loaded together, saved together, each fenced by its lease. */
export interface PartitionCheckpoints {
  loadMany(names: readonly string[]): Promise<Map<string, string>>;
  /** Saves forward only, each while its fence holds; returns the names whose fence failed. */
  saveFenced(entries: ReadonlyArray<{ name: string; cursor: string; fence?: Fence }>): Promise<string[]>;
}

/** Options of {@link SagaReader}. */
export interface SagaReaderOptions {
  /** Where the log is read (the store, or the daemon's `SharedLogReads` over it). */
  store: LogReader;
  runtime: SagaRuntime;
  ownership: Ownership;
  checkpoints: PartitionCheckpoints;
  /** Number of saga partitions (as given to `Ownership`). */
  partitions: number;
  /** Events per page. @default 100 */
  batchSize?: number;
  /** Steps (or batches of steps) in flight at once. @default 16 */
  concurrency?: number;
  /** Backstop poll when nothing wakes the reader. @default 1000 */
  pollIntervalMs?: number;
  /** How often checkpoints are saved at most (see `EventRelayOptions.checkpointIntervalMs`). @default 0 */
  checkpointIntervalMs?: number;
  /** A checkpoint of an earlier, unpartitioned reader: where partitions without their own start. */
  legacyCheckpoint?: string;
  /** Called after each page's steps committed. */
  onApplied?: (events: StoredEvent[], outcomes: StepOutcome[]) => void;
  logger?: Logger;
}

/** Most event ids a completion's gate carries; beyond, the reader applies the reply. */
const MAX_GATE_IDS = 1000;

/** Orders two log cursors (`<tx_id>.<position>`, compared as numbers). */
const compare = (a: string, b: string): number => {
  const [x, y] = [parseCursor(a), parseCursor(b)];
  const tx = BigInt(x.txId) - BigInt(y.txId);
  const pos = BigInt(x.position) - BigInt(y.position);
  return tx !== 0n ? (tx < 0n ? -1 : 1) : pos === 0n ? 0 : pos < 0n ? -1 : 1;
};

/**
 * The daemon's saga delivery from the event log: one follower of the log (an {@link EventRelay}) per
 * daemon that applies the events of the saga partitions this daemon owns. An instance belongs to
 * partition `hash(saga, key) mod partitions`; each partition is leased to one daemon (see
 * {@link Ownership}) and has its own checkpoint, saved after the page's steps committed, only forward, and
 * only while the lease is held (fenced). Every step runs under its partition's fence, so a daemon paused
 * past its lease applies nothing once another daemon took the partition. A change of owned partitions
 * rewinds the follower to the oldest checkpoint among them; events a partition already applied are
 * skipped by its own checkpoint (and would be no-ops in the inbox anyway).
 */
export class SagaReader {
  readonly relay: EventRelay;
  /** Checkpoints of the owned partitions, as loaded at the last rewind and advanced since. */
  private cursors = new Map<number, { fence: Fence; cursor: string | undefined }>();
  /** The page being delivered (or the last one): event id → its steps still to commit. */
  private page = new Map<string, number>();
  /** Events a worker's completion applied (ADR 0020) that this reader has not read yet: skipped when read. */
  private readonly applied = new Set<string>();

  constructor(private readonly options: SagaReaderOptions) {
    this.relay = new EventRelay({
      store: options.store,
      name: 'sagas',
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }),
      ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
      ...(options.logger ? { logger: options.logger } : {}),
      checkpoints: { load: () => this.load(), save: (_name, cursor) => this.save(cursor) },
      deliver: (events) => this.deliver(events),
    });
  }

  /** Wakes the reader after a local append. */
  poke(): void {
    this.relay.poke();
  }

  /** Reloads the checkpoints of the owned partitions (after a change of ownership). */
  rewind(): void {
    this.relay.rewind();
  }

  start(): void {
    this.relay.start();
  }

  stop(): Promise<void> {
    return this.relay.stop();
  }

  /**
   * Where a worker's completion may apply its reply to the instance (saga, key) itself (ADR 0020): this
   * daemon owns the instance's partition (loaded at the last rewind, same epoch), and the gate's SQL checks
   * that no event of a saga's type after this reader's position is unapplied here. Undefined: leave it to
   * the reader.
   */
  completionGate(saga: string, key: string): Omit<CompletionStepGate, 'types'> | undefined {
    const position = this.relay.readPosition();
    if (!position) return undefined;
    const p = partitionOf(saga, key, this.options.partitions);
    const state = this.cursors.get(p);
    const fence = this.options.ownership.ownedPartitions().get(p);
    if (!state || !fence || fence.epoch !== state.fence.epoch) return undefined;
    const applied = [...this.applied];
    for (const [id, pending] of this.page) if (pending === 0) applied.push(id);
    if (applied.length > MAX_GATE_IDS) return undefined;
    return { fence, after: position.after, applied };
  }

  /** A worker's completion applied `eventId` (its step committed): skip it when it is read. */
  appliedByCompletion(eventId: string): void {
    if (this.applied.size < MAX_GATE_IDS) this.applied.add(eventId);
  }

  private async load(): Promise<string | undefined> {
    this.applied.clear();
    this.page = new Map();
    const owned = this.options.ownership.ownedPartitions();
    const names = [...owned.values()].map((f) => f.lease);
    const legacy = this.options.legacyCheckpoint;
    const stored = await this.options.checkpoints.loadMany(legacy ? [...names, legacy] : names);
    const fallback = legacy ? stored.get(legacy) : undefined;
    this.cursors = new Map([...owned].map(([p, fence]) => [p, { fence, cursor: stored.get(fence.lease) ?? fallback }]));
    let min: string | undefined;
    for (const { cursor } of this.cursors.values()) {
      if (cursor === undefined) return undefined; // a partition that never ran: from the beginning
      if (min === undefined || compare(cursor, min) < 0) min = cursor;
    }
    return min;
  }

  private async deliver(events: StoredEvent[]): Promise<void> {
    const { partitions, ownership } = this.options;
    const owned = ownership.ownedPartitions();
    // Every event of the page is counted applied here once its routed steps committed (see completionGate).
    const page = new Map(events.map((e) => [e.id, 0]));
    this.page = page;
    const skip = events.filter((e) => this.applied.delete(e.id)).map((e) => e.id);
    const inlined = new Set(skip);
    const outcomes = await this.options.runtime.applyBatch(events, {
      ...(this.options.concurrency === undefined ? {} : { concurrency: this.options.concurrency }),
      route: (saga, key, event: EventEnvelope) => {
        const p = partitionOf(saga, key, partitions);
        // Only partitions loaded at the last rewind: a partition taken since waits for the rewind, so its
        // events are applied from its own checkpoint, in order.
        const state = this.cursors.get(p);
        const fence = owned.get(p);
        if (!state || !fence || fence.epoch !== state.fence.epoch) return undefined;
        const at = (event as StoredEvent).cursor;
        if (state.cursor !== undefined && at !== undefined && compare(at, state.cursor) <= 0) return undefined;
        if (inlined.has(event.id)) return undefined;
        page.set(event.id, (page.get(event.id) ?? 0) + 1);
        return { fence };
      },
      onStepped: (id) => page.set(id, (page.get(id) ?? 1) - 1),
      onLeaseLost: (lease) => ownership.lost(lease),
    });
    this.options.onApplied?.(events, outcomes);
  }

  private async save(next: string): Promise<void> {
    const entries = [...this.cursors.values()]
      .filter((s) => s.cursor === undefined || compare(s.cursor, next) < 0)
      .map((s) => ({ name: s.fence.lease, cursor: next, fence: s.fence }));
    const lost = new Set(await this.options.checkpoints.saveFenced(entries));
    for (const [p, s] of this.cursors) {
      if (lost.has(s.fence.lease)) {
        this.cursors.delete(p);
        this.options.ownership.lost(s.fence.lease);
      } else if (s.cursor === undefined || compare(s.cursor, next) < 0) {
        s.cursor = next;
      }
    }
  }
}
