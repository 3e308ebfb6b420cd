import type { EventStore, ReadAllOptions, ReadAllResult } from '../ports/event-store.js';

/** What a follower of the log reads through. */
export type LogReader = Pick<EventStore, 'readAll'>;

/**
 * One read of the log for the followers of one process (the saga reader, the bus relay): when a follower asks
 * for the page another is already reading — same cursor, same size — it shares that read instead of sending its
 * own. A read may be shared only if it started after the last {@link invalidate} (called on every wake-up,
 * before the followers are poked), so a follower woken by a new commit never gets a page read before it.
 */
export class SharedLogReads implements LogReader {
  private generation = 0;
  private readonly inFlight = new Map<string, { generation: number; page: Promise<ReadAllResult> }>();

  constructor(private readonly store: LogReader) {}

  /** Something new was committed: reads started before now are not shared any more. */
  invalidate(): void {
    this.generation++;
  }

  readAll(options: ReadAllOptions = {}): Promise<ReadAllResult> {
    const key = `${options.after ?? ''}|${options.limit ?? ''}`;
    const shared = this.inFlight.get(key);
    if (shared && shared.generation === this.generation) return shared.page;
    const page = this.store.readAll(options);
    const entry = { generation: this.generation, page };
    this.inFlight.set(key, entry);
    const done = () => {
      if (this.inFlight.get(key) === entry) this.inFlight.delete(key);
    };
    page.then(done, done);
    return page;
  }
}
