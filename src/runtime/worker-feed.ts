import { randomUUID } from 'node:crypto';
import pino, { type Logger } from 'pino';
import type { CheckpointStore } from '../core/bus/checkpoints.js';
import { EventRelay } from '../core/bus/event-relay.js';
import type { LogReader } from '../core/bus/shared-log-reads.js';
import { compilePattern } from '../core/events/pattern.js';
import type { StoredEvent } from '../core/ports/event-store.js';
import type { ClaimedCommand, LeasedItem, RegisteredWorker, WorkItem, WorkQueue } from '../core/ports/work-queue.js';
import type { EarlyCommands } from './early-commands.js';

/** A `<tx_id>.<position>` cursor as a comparable pair. */
function cursorKey(cursor: string): [bigint, bigint] {
  const [tx, pos] = cursor.split('.');
  return [BigInt(tx ?? '0'), BigInt(pos ?? '0')];
}
const isAfter = (a: [bigint, bigint], b: [bigint, bigint]) => a[0] > b[0] || (a[0] === b[0] && a[1] > b[1]);
/** The lower of two cursors (`limit` undefined: no limit). */
const atMost = (cursor: string, limit: string | undefined) => (limit !== undefined && isAfter(cursorKey(cursor), cursorKey(limit)) ? limit : cursor);

interface Matcher {
  worker: RegisteredWorker;
  from: [bigint, bigint];
  matches: Array<(type: string) => boolean>;
}

/** The work items of a page of the log for the given workers. */
export function workItemsOf(events: readonly StoredEvent[], workers: readonly RegisteredWorker[]): WorkItem[] {
  const matchers: Matcher[] = workers.map((w) => ({ worker: w, from: cursorKey(w.fromCursor), matches: w.handles.map(compilePattern) }));
  const items: WorkItem[] = [];
  for (const e of events) {
    const at = cursorKey(e.cursor);
    for (const m of matchers) {
      if (isAfter(at, m.from) && m.matches.some((match) => match(e.type))) items.push({ worker: m.worker.name, event: e, maxAttempts: m.worker.maxAttempts });
    }
  }
  return items;
}

/** How old the list of registered workers may be when the feed serves it while reading it again. */
const STALE_WORKERS_MS = 5000;

/**
 * Worker processes of this daemon waiting for commands (long-poll claims, in-process loops): the feed records a
 * new command leased to one of them and hands it over, instead of leaving it for a claim (ADR 0010).
 */
export interface WorkHandOff {
  /** Reserves one waiting claim of `worker`, if any: who it is, its lease length and how many it takes. */
  reserve(worker: string): { by: string; leaseMs: number; max: number; give: (commands: ClaimedCommand[]) => void } | undefined;
}

/** How long a command handed by {@link WorkerFeed.offer} may stay unrecorded before the upkeep records it. */
const EARLY_RECORD_AFTER_MS = 1000;

/** Options of {@link WorkerFeed}. */
export interface WorkerFeedOptions {
  queue: WorkQueue;
  /** What the feed reads the log through (the daemon's shared reads). */
  reader: LogReader;
  /** The feed's checkpoint (fenced by its lease in the daemon). */
  checkpoints: CheckpointStore;
  /** @default 'worker-feed' */
  name?: string;
  batchSize?: number;
  checkpointIntervalMs?: number;
  /** Waiting claims of this process, handed new commands directly. */
  handOff?: WorkHandOff;
  /** Where commands handed by {@link WorkerFeed.offer} wait to be recorded (shared with the work service). */
  early?: EarlyCommands;
  /** Called with the workers that got commands no waiting claim was handed (wakes this process's waiting workers). */
  onEnqueued?: (workers: readonly string[]) => void;
  logger?: Logger;
}

/**
 * Worker delivery's reader of the log (ADR 0010): one follower (an {@link EventRelay}, leased to one daemon)
 * that records a work item for each event a registered worker handles. A worker registered after the feed
 * passed its starting cursor gets the commands it missed from a bounded catch-up read of the log: at the next
 * page, or at the next upkeep tick when no page comes (see {@link WorkerFeed.admitNewWorkers}).
 */
export class WorkerFeed {
  readonly relay: EventRelay;
  private known: Set<string> | undefined;
  private readonly logger: Logger;
  private upkeep: NodeJS.Timeout | undefined;
  private workers: { at: number; list: RegisteredWorker[] } | undefined;
  private upkeeping: Promise<void> | undefined;
  private refreshing: Promise<unknown> | undefined;
  /** The last event of the last page delivered (with `known`, what the known workers have been served up to). */
  private delivered: string | undefined;
  /** Deliveries and the upkeep's catch-ups, one at a time (both read and update `known`). */
  private turn: Promise<unknown> = Promise.resolve();
  /** The last event of the last page given to {@link deliver} (recorded or being recorded): offers stop here. */
  private seenUpTo: [bigint, bigint] | undefined;
  /** A stop under way, and whether a start came while it ran. */
  private stopping: Promise<void> | undefined;
  private startAfterStop = false;

  constructor(private readonly options: WorkerFeedOptions) {
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'worker-feed' });
    // The checkpoint stays before commands handed early and not yet recorded (see EarlyCommands).
    const early = options.early;
    const checkpoints = early
      ? { load: (name: string) => options.checkpoints.load(name), save: (name: string, cursor: string) => options.checkpoints.save(name, atMost(cursor, early.floor())) }
      : options.checkpoints;
    this.relay = new EventRelay({
      store: options.reader,
      deliver: (events) => this.deliver(events),
      checkpoints,
      name: options.name ?? 'worker-feed',
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(options.checkpointIntervalMs === undefined ? {} : { checkpointIntervalMs: options.checkpointIntervalMs }),
      logger: this.logger,
    });
  }

  /**
   * Starts following (this daemon holds the feed's lease), and the upkeep: every second, workers that registered
   * since are caught up and commands whose last lease ended unanswered are dead-lettered; every ten minutes,
   * done items older than an hour are forgotten.
   */
  start(): void {
    // Lost and taken again while the stop of the loss still runs: start when it has ended (it stops the relay).
    if (this.stopping) {
      this.startAfterStop = true;
      return;
    }
    this.known = undefined;
    this.delivered = undefined;
    this.workers = undefined;
    this.seenUpTo = undefined;
    this.options.early?.clear();
    this.relay.rewind();
    this.relay.start();
    if (this.upkeep) return;
    let ticks = 0;
    this.upkeep = setInterval(() => {
      if (this.upkeeping) return;
      const purge = ticks++ % 600 === 0;
      this.upkeeping = (async () => {
        await this.admitNewWorkers().catch((err: unknown) => this.logger.warn({ err }, 'catching up new workers failed'));
        const dead = await this.options.queue.sweepExhausted();
        if (dead > 0) this.logger.warn({ commands: dead }, 'commands dead-lettered: their last attempt went unanswered');
        await this.recordEarly();
        if (purge) await this.options.queue.purgeDone(3_600_000);
      })().catch((err: unknown) => this.logger.warn({ err }, 'work queue upkeep failed')).finally(() => {
        this.upkeeping = undefined;
      });
    }, 1000);
    this.upkeep.unref?.();
  }

  /** Stops following and the upkeep; a {@link start} called meanwhile takes effect once it has ended. */
  stop(): Promise<void> {
    this.startAfterStop = false;
    return (this.stopping ??= (async () => {
      clearInterval(this.upkeep);
      this.upkeep = undefined;
      await this.upkeeping;
      await this.refreshing;
      await this.relay.stop();
    })().finally(() => {
      this.stopping = undefined;
      if (this.startAfterStop) {
        this.startAfterStop = false;
        this.start();
      }
    }));
  }

  /**
   * The registered workers, read at most once a second (not once per page). While the feed runs, a list that
   * is due is served once more as it is and read again beside the delivery (not in its path); only a list
   * older than {@link STALE_WORKERS_MS} (or none) is waited for. A worker that registered since the last read
   * is new at the first page after the next one, or at the next upkeep tick if that comes first, and its
   * catch-up covers the pages delivered without it.
   */
  private async registered(): Promise<RegisteredWorker[]> {
    const age = this.workers ? performance.now() - this.workers.at : Infinity;
    if (age < 1000) return this.workers!.list;
    if (this.upkeep && age < STALE_WORKERS_MS) {
      void this.refresh();
      return this.workers!.list;
    }
    return this.readWorkers();
  }

  /** Reads the registered workers again, beside the delivery (one such read at a time). */
  private refresh(): Promise<unknown> {
    return (this.refreshing ??= this.readWorkers()
      .catch((err: unknown) => this.logger.warn({ err }, 'reading the registered workers failed'))
      .finally(() => (this.refreshing = undefined)));
  }

  /** Runs `work` after the deliveries and catch-ups before it. */
  private serially<T>(work: () => Promise<T>): Promise<T> {
    const run = this.turn.then(work);
    this.turn = run.catch(() => undefined);
    return run;
  }

  /**
   * The upkeep's catch-up: reads the registered workers again and gives each new one the commands of the pages
   * already delivered without it. Without this, a command committed in the second after a worker registered,
   * with no page after it, would wait for one: its own page went out with the list read before the registration.
   */
  private async admitNewWorkers(): Promise<void> {
    if (!this.known) return; // nothing delivered yet: the first page reads the list as it is then
    await this.refresh();
    await this.serially(async () => {
      const known = this.known;
      const last = this.delivered;
      if (!known || last === undefined) return;
      const fresh = (this.workers?.list ?? []).filter((w) => !known.has(w.name));
      if (fresh.length === 0) return;
      const [tx, pos] = cursorKey(last);
      const items: WorkItem[] = [];
      for (const w of fresh) items.push(...(await this.catchUp(w, `${tx}.${pos + 1n}`)));
      await this.options.queue.enqueue(items);
      for (const w of fresh) known.add(w.name);
      if (items.length > 0) this.options.onEnqueued?.([...new Set(items.map((i) => i.worker))]);
    });
  }

  private async readWorkers(): Promise<RegisteredWorker[]> {
    const list = await this.options.queue.registered();
    this.workers = { at: performance.now(), list };
    return list;
  }

  /**
   * Hands the commands among `events` — just committed by a step of this process, not yet read by the feed — to
   * claims waiting here, at once (ADR 0018). Only while the feed runs here and has delivered a page, for
   * workers it knows, and for events after the pages it was given: those it records itself. When their page
   * comes, the feed records them leased with the token they were handed with (and hands them to no one else);
   * a completion that comes first records the item completed. A crash before either leaves them to the
   * feed's next reading of the page (its checkpoint is behind them): at least once, as for any command.
   * Returns the ids of the events handed to every worker that handles them.
   */
  offer(events: readonly StoredEvent[]): Set<string> {
    const handed = new Set<string>();
    const { handOff, early } = this.options;
    const known = this.known;
    const list = this.workers?.list;
    if (!handOff || !early || !this.upkeep || !known || !list) return handed;
    const seen = this.seenUpTo;
    const fresh = seen ? events.filter((e) => isAfter(cursorKey(e.cursor), seen)) : events;
    const items = workItemsOf(fresh, list.filter((w) => known.has(w.name)));
    if (items.length === 0) return handed;
    const byId = new Map(fresh.map((e) => [e.id, e]));
    const unhanded = new Set<string>();
    for (const worker of new Set(items.map((i) => i.worker))) {
      const mine = items.filter((i) => i.worker === worker);
      const claim = handOff.reserve(worker);
      const taken = claim ? mine.slice(0, claim.max) : [];
      for (const item of mine.slice(taken.length)) unhanded.add(item.event.id);
      if (!claim) continue;
      const commands: ClaimedCommand[] = [];
      for (const item of taken) {
        const { position, cursor, ...command } = byId.get(item.event.id)!;
        const token = randomUUID();
        const until = Date.now() + claim.leaseMs;
        early.add({
          item: { worker, event: { id: command.id, position }, maxAttempts: item.maxAttempts, lease: { by: claim.by, leaseMs: claim.leaseMs, token } },
          cursor, until, at: performance.now(),
        });
        commands.push({ command, attempt: 1, leaseToken: token, leaseExpiresAt: new Date(until).toISOString() });
      }
      claim.give(commands);
    }
    for (const item of items) if (!unhanded.has(item.event.id)) handed.add(item.event.id);
    return handed;
  }

  /** Records the commands handed early that are still unanswered after a second, leased as they were handed. */
  private async recordEarly(): Promise<void> {
    const early = this.options.early;
    const due = early?.olderThan(performance.now() - EARLY_RECORD_AFTER_MS) ?? [];
    if (due.length === 0) return;
    await this.options.queue.enqueue(due.map((e) => e.item));
    for (const e of due) early!.recorded(e.item.worker, e.item.event.id);
  }

  private deliver(events: StoredEvent[]): Promise<void> {
    const last = events.at(-1);
    if (last) this.seenUpTo = cursorKey(last.cursor);
    return this.serially(async () => {
      const workers = await this.registered();
      await this.record(events, workers);
      // Known (served up to here) only once recorded: a page that failed is delivered again, with its catch-ups.
      this.known = new Set(workers.map((w) => w.name));
      this.delivered = events.at(-1)?.cursor ?? this.delivered;
    });
  }

  private async record(events: StoredEvent[], workers: RegisteredWorker[]): Promise<void> {
    // Workers known when this feed started are served from its checkpoint on. One that registered since may
    // have commands in the pages already delivered without it: read those again for it alone.
    const fresh = this.known ? workers.filter((w) => !this.known!.has(w.name)) : [];
    const first = events[0];
    let items: WorkItem[] = [];
    if (first) for (const w of fresh) items.push(...(await this.catchUp(w, first.cursor)));
    items.push(...workItemsOf(events, workers));
    if (items.length === 0) return;
    // Commands handed already by offer are left to be recorded as EarlyCommands says (their completion, mostly);
    // new commands of a worker with a claim waiting here go in leased to that claim (up to what it takes).
    const early = this.options.early;
    if (early && early.size > 0) items = items.filter((i) => !early.has(i.worker, i.event.id));
    if (items.length === 0) return;
    const reserved = new Map<string, NonNullable<ReturnType<WorkHandOff['reserve']>>>();
    const handOff = this.options.handOff;
    const inPage = new Set(events.map((e) => e.id));
    if (handOff) {
      for (const worker of new Set(items.map((i) => i.worker))) {
        const mine = items.filter((item) => item.worker === worker && inPage.has(item.event.id));
        if (mine.length === 0) continue;
        const claim = handOff.reserve(worker);
        if (!claim) continue;
        reserved.set(worker, claim);
        for (const item of mine.slice(0, claim.max)) item.lease = { by: claim.by, leaseMs: claim.leaseMs };
      }
    }
    const given = new Map<string, ClaimedCommand[]>();
    let leased: LeasedItem[];
    let available: string[] = [];
    try {
      ({ leased, available } = await this.options.queue.enqueue(items));
      const byId = new Map(events.map((e) => [e.id, e])); // only items of this page were leased
      for (const l of leased) {
        const e = byId.get(l.eventId);
        if (!e) continue;
        const { position: _p, cursor: _c, ...command } = e;
        given.set(l.worker, [...(given.get(l.worker) ?? []), { command, attempt: 1, leaseToken: l.leaseToken, leaseExpiresAt: l.leaseExpiresAt }]);
      }
    } finally {
      for (const [worker, claim] of reserved) claim.give(given.get(worker) ?? []);
    }
    // Waiting claims are woken for the commands recorded for a claim to take (not for items recorded before,
    // such as commands handed early and completed already: their claim would find nothing).
    if (available.length > 0) this.options.onEnqueued?.(available);
  }

  /** The work items of `worker` between its registration and `until` (exclusive). */
  private async catchUp(worker: RegisteredWorker, until: string): Promise<WorkItem[]> {
    const end = cursorKey(until);
    const items: WorkItem[] = [];
    let after = worker.fromCursor;
    for (;;) {
      const page = await this.options.reader.readAll({ after, limit: 500 });
      const before = page.events.filter((e) => isAfter(end, cursorKey(e.cursor)));
      items.push(...workItemsOf(before, [worker]));
      if (before.length < page.events.length || page.events.length === 0 || page.next === undefined) break;
      after = page.next;
    }
    if (items.length > 0) this.logger.info({ worker: worker.name, commands: items.length }, 'commands committed while the worker registered');
    return items;
  }
}
