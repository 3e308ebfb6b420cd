import pino, { type Logger } from 'pino';
import { MemoryCheckpoints } from '../core/bus/checkpoints.js';
import { EventRelay } from '../core/bus/event-relay.js';
import type { LogReader } from '../core/bus/shared-log-reads.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import type { SagaHistoryEntry } from '../core/ports/saga-store.js';
import type { TransitionLog } from '../core/ports/transition-log.js';
import { PollingLoop } from './polling-loop.js';

/** One thing the live feed saw committed: an event of the log, or a saga transition (a history row). */
export type LiveItem = { kind: 'event'; event: StoredEvent } | { kind: 'transition'; transition: SagaHistoryEntry };

/** Receives the live items in commit-safe order; must not throw or block (it queues or drops). */
export type LiveListener = (item: LiveItem) => void;

export interface LiveFeedOptions {
  /** The event log, and where its head is. */
  events: LogReader & { headCursor(): Promise<string> };
  transitions: TransitionLog;
  /**
   * Commit notifications (`LISTEN` on the log's channel): `onWake` runs after any daemon's commit that appended.
   * Resolves to an unsubscribe. Without it the feed polls only.
   */
  listen?: (onWake: () => void) => Promise<() => Promise<void>>;
  /**
   * Poll interval of both followers (events: a backstop behind the notifications; transitions: also the way a
   * step that emitted nothing is seen, since only appends notify). @default 250
   */
  pollIntervalMs?: number;
  /** @default 200 */
  batchSize?: number;
  logger?: Logger;
}

const CHECKPOINT = 'live-feed';

/**
 * What is committed now, for live watchers (WebSocket clients, the dashboard, `waitFor`): events from the event
 * log and saga transitions from the saga history, whichever daemon committed them. Each is followed from the
 * head by a gap-free reader (an {@link EventRelay} with an in-memory cursor for the log, a poll of the
 * {@link TransitionLog} for the history): nothing durable, no checkpoint rows, and nothing read before the
 * first watcher came. The followers run only while someone listens.
 */
export class LiveFeed {
  private readonly listeners = new Set<LiveListener>();
  private readonly logger: Logger;
  private relay: EventRelay | undefined;
  private transitionLoop: PollingLoop | undefined;
  private unlisten: (() => Promise<void>) | undefined;
  /** Starts and stops one after the other. */
  private changing: Promise<void> = Promise.resolve();

  constructor(private readonly options: LiveFeedOptions) {
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'live-feed' });
  }

  /** How many listeners are attached. */
  get size(): number {
    return this.listeners.size;
  }

  /**
   * Adds a listener. Resolves once the followers run: everything committed after that reaches it. Resolves to
   * the function that removes it (the followers stop with the last one).
   */
  async subscribe(listener: LiveListener): Promise<() => Promise<void>> {
    this.listeners.add(listener);
    await this.settle(() => this.startFollowers());
    let removed = false;
    return async () => {
      if (removed) return;
      removed = true;
      this.listeners.delete(listener);
      await this.settle(() => (this.listeners.size === 0 ? this.stopFollowers() : Promise.resolve()));
    };
  }

  /** Reads now instead of at the next poll (after a local commit). */
  poke(): void {
    this.relay?.poke();
    this.transitionLoop?.wake();
  }

  /** Removes every listener and stops the followers. Idempotent. */
  async stop(): Promise<void> {
    this.listeners.clear();
    await this.settle(() => this.stopFollowers());
  }

  private settle(step: () => Promise<void>): Promise<void> {
    const next = this.changing.then(step);
    this.changing = next.catch(() => undefined);
    return next;
  }

  private fanOut(item: LiveItem): void {
    for (const listener of this.listeners) {
      try {
        listener(item);
      } catch (err) {
        this.logger.warn({ err }, 'live listener failed');
      }
    }
  }

  private async startFollowers(): Promise<void> {
    if (this.relay || this.listeners.size === 0) return;
    const { events, transitions } = this.options;
    const pollIntervalMs = this.options.pollIntervalMs ?? 250;
    const batchSize = this.options.batchSize ?? 200;
    const [eventHead, transitionHead] = await Promise.all([events.headCursor(), transitions.head()]);
    const checkpoints = new MemoryCheckpoints();
    await checkpoints.save(CHECKPOINT, eventHead);
    const relay = new EventRelay({
      store: events, checkpoints, name: CHECKPOINT, batchSize, pollIntervalMs, logger: this.logger,
      deliver: async (page) => {
        for (const event of page) this.fanOut({ kind: 'event', event });
      },
    });
    let cursor = transitionHead;
    const loop = new PollingLoop(
      async () => {
        const page = await transitions.readAfter(cursor, batchSize);
        cursor = page.next;
        for (const transition of page.transitions) this.fanOut({ kind: 'transition', transition });
        // A full page: read on at once.
        return page.transitions.length >= batchSize ? page.transitions.length : 0;
      },
      { intervalMs: pollIntervalMs, errorBackoffMs: 1000, logger: this.logger, what: 'live transition read' },
    );
    this.unlisten = await this.options.listen?.(() => this.poke());
    this.relay = relay;
    this.transitionLoop = loop;
    relay.start();
    loop.start();
  }

  private async stopFollowers(): Promise<void> {
    const { relay, transitionLoop, unlisten } = this;
    this.relay = undefined;
    this.transitionLoop = undefined;
    this.unlisten = undefined;
    await unlisten?.().catch(() => undefined);
    await relay?.stop();
    await transitionLoop?.stop();
  }
}
