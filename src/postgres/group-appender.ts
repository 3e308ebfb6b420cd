import { ConcurrencyError, DuplicateEventError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import type { Db } from '../core/ports/db.js';
import type { AppendOptions, AppendResult } from '../core/ports/event-store.js';
import { appendTransaction } from './append-lock.js';
import type { PostgresEventStore } from './event-store.js';

/** Options of {@link GroupAppender}. */
export interface GroupAppenderOptions {
  /** Appends committed together at most. @default 256 */
  maxGroup?: number;
  /**
   * Called after a group's transaction committed, before any of its callers is resolved (a test hook: a
   * crash here must lose nothing that a caller could have been told was stored).
   */
  afterCommit?: (size: number) => void;
}

interface Pending {
  streamId: string;
  batch: EventEnvelope[];
  options: AppendOptions;
  resolve: (result: AppendResult) => void;
  reject: (err: unknown) => void;
}

/** Errors of one append that leave the group's transaction usable (raised by the store, not by the server). */
const ownError = (err: unknown): boolean => err instanceof ConcurrencyError || err instanceof DuplicateEventError;

/**
 * Group commit of concurrent appends (the daemon's publishes: API, CLI, service replies). One group is in
 * flight at a time; appends that arrive meanwhile wait and go together in the next transaction — one
 * commit (one WAL flush) for all of them instead of one each. A lone append is the store's one-statement
 * append, so an idle system keeps its single-append latency: nothing ever waits for a group to fill.
 *
 * Each caller's promise resolves only after the transaction holding its events committed. An append that
 * fails on its own (a version conflict, an id stored with other events) is rejected alone; an error that
 * aborts the transaction makes each append of the group run alone, so one bad append never fails another.
 */
export class GroupAppender {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly store: PostgresEventStore,
    private readonly db: Db,
    private readonly options: GroupAppenderOptions = {},
  ) {}

  /** Appends `events` to `streamId` (as `store.append`); resolves once they are committed. */
  append(streamId: string, events: EventEnvelope[], options: AppendOptions = {}): Promise<AppendResult> {
    let batch: EventEnvelope[];
    try {
      batch = this.store.validate(streamId, events, options);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ streamId, batch, options, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const group = this.queue.splice(0, this.options.maxGroup ?? 256);
        if (group.length === 1) await this.alone(group[0]!);
        else await this.together(group);
      }
    } finally {
      this.flushing = false;
    }
  }

  private async alone(p: Pending): Promise<void> {
    try {
      const result = await this.store.append(p.streamId, p.batch, p.options);
      this.options.afterCommit?.(1);
      p.resolve(result);
    } catch (err) {
      p.reject(err);
    }
  }

  private async together(group: Pending[]): Promise<void> {
    const outcomes: Array<{ ok: AppendResult } | { err: unknown }> = [];
    try {
      await appendTransaction(this.db, this.store.appendLock, async (tx) => {
        for (const p of group) {
          try {
            outcomes.push({ ok: await this.store.appendValidated(tx, p.streamId, p.batch, p.options) });
          } catch (err) {
            if (!ownError(err)) throw err;
            outcomes.push({ err });
          }
        }
      });
    } catch {
      // The transaction failed as a whole (a duplicate id raced in, a deadlock, a lost connection): each
      // append on its own, so each caller gets its own result or error.
      for (const p of group) await this.alone(p);
      return;
    }
    this.options.afterCommit?.(group.length);
    group.forEach((p, i) => {
      const o = outcomes[i]!;
      if ('ok' in o) p.resolve(o.ok);
      else p.reject(o.err);
    });
  }
}
