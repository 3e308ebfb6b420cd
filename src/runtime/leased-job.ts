import pino, { type Logger } from 'pino';

/** Options of {@link LeasedJob}. */
export interface LeasedJobOptions<R> {
  /** The lease it runs under: one daemon of a schema runs it. */
  lease: string;
  /** Its name in logs. */
  name: string;
  /** One pass. */
  run: () => Promise<R>;
  /** Logs what a pass did (nothing is logged without it). */
  report?: (result: R, logger: Logger) => void;
  /** Time between passes. */
  intervalMs: number;
  /** Time from taking the lease to the first pass. */
  firstDelayMs: number;
  logger?: Logger;
}

/**
 * A job that runs now and then on the daemon holding its lease (a leased follower of the daemon's delivery:
 * started and stopped as the lease comes and goes). A failed pass is logged; the next one tries again.
 */
export class LeasedJob<R> {
  readonly lease: string;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private readonly logger: Logger;

  constructor(private readonly options: LeasedJobOptions<R>) {
    this.lease = options.lease;
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: options.name });
  }

  start(): void {
    if (this.timer) return;
    this.schedule(this.options.firstDelayMs);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.pass;
  }

  poke(): void {}

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      this.pass = this.options.run().then(
        (r) => this.options.report?.(r, this.logger),
        (err: unknown) => this.logger.warn({ err }, `${this.options.name} pass failed; the next pass retries`),
      ).finally(() => {
        this.pass = undefined;
        if (this.timer) this.schedule(this.options.intervalMs);
      });
    }, ms);
    this.timer.unref?.();
  }
}
