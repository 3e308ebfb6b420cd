import pino, { type Logger } from 'pino';
import type { EventEnvelope } from '../events/envelope.js';
import type { EventBus } from '../ports/event-bus.js';
import type { StoredEvent } from '../ports/event-store.js';
import type { LogReader } from './shared-log-reads.js';
import type { CheckpointStore } from './checkpoints.js';
import { realSleep, type Sleep } from './sleep.js';
import { traceRelayPage } from '../tracing/spans.js';

/** The abort reason of a stop (a plain value: `abort()` without one builds a DOMException with a stack). */
const STOPPED = Symbol('stopped');

/** Options of {@link EventRelay}. */
export interface EventRelayOptions {
  /** Where the log is read (the store, or a {@link import('./shared-log-reads.js').SharedLogReads} over it). */
  store: LogReader;
  /**
   * Where each page of the log goes: resolves when the page is handled (published, applied), and only
   * then is the checkpoint saved. Use {@link publishTo} for a transport.
   */
  deliver: (events: StoredEvent[]) => Promise<void>;
  checkpoints: CheckpointStore;
  /** Checkpoint name. @default 'bus-relay' */
  name?: string;
  /** Events per read (`EVENT_PROCESSING_BATCH_SIZE`). @default 100 */
  batchSize?: number;
  /** Polling backstop when nobody pokes. @default 1000 */
  pollIntervalMs?: number;
  /**
   * Save the checkpoint at most this often (the last position is saved this long after the last page, and
   * at stop). 0 saves after every page. A crash re-delivers what was delivered since the last save: at most
   * this long of the log (at-least-once either way). @default 0
   */
  checkpointIntervalMs?: number;
  logger?: Logger;
  /** The wait of the backoff after a failed pass (the wait between passes is the relay's own wake-up). @default realSleep */
  sleep?: Sleep;
}

/**
 * The one follower of the event log: reads the store's gap-free global log after the saved checkpoint,
 * hands each page to `deliver` (the bus relay publishes it to a transport; the saga reader applies it to
 * saga instances), then saves the new checkpoint. A crash between delivery and checkpoint delivers the
 * page again (at-least-once; consumers dedupe by event id); a crash before delivery loses nothing,
 * because the event is already in the store. Woken by `poke()` after local appends; the poll interval is
 * only the backstop for appends it was not told about.
 */
export class EventRelay {
  private readonly name: string;
  private readonly logger: Logger;
  private readonly sleep: Sleep;
  private running = false;
  private loop: Promise<void> | undefined;
  private stopController = new AbortController();
  /** A poke came since the current pass began: the wait after it returns at once. */
  private poked = false;
  /** Ends the wait between passes (a poke, the backstop, a stop). */
  private wakeUp: (() => void) | undefined;
  /** The backstop poll, one timer restarted at each wait (not a new timer and abort signal per pass). */
  private backstop: NodeJS.Timeout | undefined;
  private backstopMs = 0;
  private busy: Promise<number> | undefined;
  private cursor: { after: string | undefined } | undefined;
  private rewound = false;
  /** Throttled saving (checkpointIntervalMs > 0): the position delivered and not yet saved, and when we last saved. */
  private unsaved: string | undefined;
  private lastSaveAt = 0;
  private saveTimer: NodeJS.Timeout | undefined;
  private saving: Promise<void> | undefined;

  constructor(private readonly options: EventRelayOptions) {
    this.name = options.name ?? 'bus-relay';
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'event-relay', relay: this.name });
    this.sleep = options.sleep ?? realSleep;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.stopController = new AbortController();
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.stopController.abort(STOPPED);
    this.poke();
    clearTimeout(this.backstop);
    this.backstop = undefined;
    await this.loop;
    await this.flushCheckpoint();
  }

  /** Saves the delivered position now if it is not saved yet (throttled saving; a no-op otherwise). */
  async flushCheckpoint(): Promise<void> {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    while (this.saving) await this.saving;
    const cursor = this.unsaved;
    if (cursor === undefined) return;
    this.unsaved = undefined;
    this.lastSaveAt = performance.now();
    this.saving = this.options.checkpoints.save(this.name, cursor).then(
      () => undefined,
      (err: unknown) => {
        // Kept for the next attempt (unless a later position came meanwhile) while the relay runs; a stopped
        // relay (its lease lost, the process stopping) leaves it: the next owner re-delivers from the last save.
        this.logger.warn({ err }, 'checkpoint save failed');
        if (!this.running) return;
        this.unsaved ??= cursor;
        this.scheduleSave();
      },
    ).finally(() => {
      this.saving = undefined;
    });
    await this.saving;
  }

  private scheduleSave(): void {
    if (this.saveTimer || this.unsaved === undefined) return;
    const wait = Math.max(0, (this.options.checkpointIntervalMs ?? 0) - (performance.now() - this.lastSaveAt));
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      void this.flushCheckpoint();
    }, wait);
    this.saveTimer.unref?.();
  }

  /** Wakes the relay now (after an append) instead of at the next poll. */
  poke(): void {
    this.poked = true;
    const wakeUp = this.wakeUp;
    this.wakeUp = undefined;
    wakeUp?.();
  }

  /** Waits until a poke (one since the pass began counts), a stop, or `ms` (the backstop poll). */
  private waitForPoke(ms: number): Promise<void> {
    if (this.poked) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wakeUp = resolve;
      if (this.backstop && this.backstopMs === ms) {
        this.backstop.refresh();
      } else {
        clearTimeout(this.backstop);
        this.backstopMs = ms;
        this.backstop = setTimeout(() => {
          const wakeUp = this.wakeUp;
          this.wakeUp = undefined;
          wakeUp?.();
        }, ms); // not unref'd: a running relay keeps the process alive, as its sleeping timer did before
      }
    });
  }

  /** Forgets the cursor followed in memory: the next pass loads the checkpoint again (after a change of owned work). */
  rewind(): void {
    this.rewound = true;
    this.poke();
  }

  /**
   * Where this follower's next read starts: events after `after` (undefined: the whole log) are not yet
   * delivered; the page being delivered, if any, is among them. Undefined while the position is not known
   * (not running, rewound, reloading after a failure).
   */
  readPosition(): { after: string | undefined } | undefined {
    if (!this.running || this.rewound || this.cursor === undefined) return undefined;
    return { after: this.cursor.after };
  }

  /** Relays everything stored after the checkpoint; returns how many events were sent. Serialised. */
  async runOnce(): Promise<number> {
    while (this.busy) await this.busy.catch(() => undefined);
    this.busy = this.drain();
    try {
      return await this.busy;
    } finally {
      this.busy = undefined;
    }
  }

  private async drain(): Promise<number> {
    const { store, checkpoints } = this.options;
    let sent = 0;
    // The checkpoint is loaded once and then followed in memory (saved after every page); after a failure
    // it is loaded again, so a pass never starts from a position it has not saved.
    if (this.rewound) {
      this.rewound = false;
      this.cursor = undefined;
    }
    if (this.cursor === undefined) {
      // A position delivered under the work loaded before is saved first (throttled saving), so the load
      // below sees it, and it is never saved later for work loaded after it.
      await this.flushCheckpoint();
      this.cursor = { after: await checkpoints.load(this.name) };
    }
    // A page's checkpoint is saved while the next page is read and delivered (off the hot path), and the
    // save is awaited before the next one, so saves stay in order and a failed one stops the pass.
    const limit = this.options.batchSize ?? 100;
    let saving: Promise<unknown> | undefined;
    let saveError: { err: unknown } | undefined;
    const settleSave = async () => {
      await saving;
      if (saveError) throw saveError.err;
    };
    try {
      for (;;) {
        const page = await store.readAll({ ...(this.cursor.after === undefined ? {} : { after: this.cursor.after }), limit });
        if (page.events.length === 0 || page.next === undefined) {
          await settleSave();
          return sent;
        }
        await traceRelayPage(this.name, page.events, () => this.options.deliver(page.events));
        if ((this.options.checkpointIntervalMs ?? 0) > 0) {
          this.unsaved = page.next;
          this.scheduleSave();
          this.cursor.after = page.next;
          sent += page.events.length;
          if (page.events.length < limit) return sent;
          continue;
        }
        await settleSave();
        saving = checkpoints.save(this.name, page.next).catch((err: unknown) => (saveError = { err }));
        this.cursor.after = page.next;
        sent += page.events.length;
        // A short page reached the end of the log as of its read: stop here instead of reading an empty
        // page. An append that committed since has poked (or notified) this reader: the loop runs again.
        if (page.events.length < limit) {
          await settleSave();
          return sent;
        }
      }
    } catch (err) {
      await saving;
      this.cursor = undefined;
      throw err;
    }
  }

  private async run(): Promise<void> {
    // This loop's own stop signal: a start() that comes while a stop() waits for this loop begins another one,
    // and this one must still end (else that stop() never returns and two loops poll).
    const stopped = this.stopController.signal;
    let failures = 0;
    while (this.running && !stopped.aborted) {
      this.poked = false;
      try {
        await this.runOnce();
        failures = 0;
      } catch (err) {
        failures++;
        this.logger.warn({ err, failures }, 'relay pass failed; retrying');
      }
      if (!this.running || stopped.aborted) return;
      const wait = failures > 0 ? Math.min(5000, 100 * 2 ** Math.min(failures, 6)) : (this.options.pollIntervalMs ?? 1000);
      // After a failure the backoff is not cut short by pokes: with a steady stream of appends (a full
      // transport refusing, EVENT_BUS_OVERFLOW=reject) a poke-woken retry would spin on the same page.
      // Otherwise a poke (stop pokes too) or the backstop ends the wait.
      if (failures > 0) await this.sleep(wait, stopped);
      else await this.waitForPoke(wait);
    }
  }
}

/** A `deliver` that publishes a page to `transport`, one publish per stream run (each stream stays in order). */
export function publishTo(transport: EventBus): (events: StoredEvent[]) => Promise<void> {
  return async (events) => {
    for (const run of streamRuns(events)) await transport.publish(run.map(toEnvelope), { orderingKey: run[0]!.streamId });
  };
}

/** The envelope of a stored event (without its place in the log). */
export function toEnvelope(e: StoredEvent): EventEnvelope {
  return { id: e.id, type: e.type, streamId: e.streamId, aggregateType: e.aggregateType, version: e.version, timestamp: e.timestamp, data: e.data, metadata: e.metadata };
}

function streamRuns(events: StoredEvent[]): StoredEvent[][] {
  const runs: StoredEvent[][] = [];
  for (const e of events) {
    const last = runs.at(-1);
    if (last && last[0]!.streamId === e.streamId) last.push(e);
    else runs.push([e]);
  }
  return runs;
}
