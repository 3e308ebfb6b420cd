import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** Told when the `XACK` carrying its id has been answered (successfully or not). */
export interface AckWaiter {
  acked(ok: boolean): void;
}

/**
 * Collects the ids a consumer may acknowledge and sends them as one `XACK stream group id…` per event
 * loop turn, instead of one command per entry. Ids are added only after their handler succeeded or
 * the entry was dead-lettered, so batching never acknowledges early; it only merges acks that are due.
 */
export class AckBatcher {
  private ids: string[] = [];
  private waiters: Array<AckWaiter | undefined> = [];
  private scheduled = false;
  private inFlight = 0;
  private idle: Array<() => void> = [];
  private readonly flushNow = (): void => this.flush();

  constructor(
    private readonly client: Redis,
    private readonly stream: string,
    private readonly group: string,
    private readonly log: Logger,
  ) {}

  /** Queues `id` for the next batch; `waiter.acked()` is called once Redis answered. */
  add(id: string, waiter?: AckWaiter): void {
    this.ids.push(id);
    this.waiters.push(waiter);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushNow);
    }
  }

  /** Sends what is queued now and resolves when every ack sent so far has been answered. */
  async drain(): Promise<void> {
    if (this.ids.length > 0) this.flush();
    if (this.inFlight > 0) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private flush(): void {
    this.scheduled = false;
    if (this.ids.length === 0) return;
    const ids = this.ids;
    const waiters = this.waiters;
    this.ids = [];
    this.waiters = [];
    this.inFlight++;
    this.client.xack(this.stream, this.group, ...ids).then(
      () => this.answered(waiters, true),
      (err: unknown) => {
        this.log.error({ err, entryIds: ids.slice(0, 20), count: ids.length }, 'XACK failed; the entries will be redelivered');
        this.answered(waiters, false);
      },
    );
  }

  private answered(waiters: Array<AckWaiter | undefined>, ok: boolean): void {
    for (const w of waiters) w?.acked(ok);
    if (--this.inFlight === 0) for (const r of this.idle.splice(0)) r();
  }
}
