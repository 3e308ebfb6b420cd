import pino, { type Logger } from 'pino';

/** The lease of the retention job: it runs on one daemon of a schema. */
export const RETENTION_LEASE = 'job:retention';

/** Options of {@link RetentionJob}. */
export interface RetentionJobOptions {
  /** One pass: removes expired events; resolves with how many went. */
  run: () => Promise<{ removed: number; expired: number }>;
  /** Time between passes. @default 1 hour */
  intervalMs?: number;
  /** Time from taking the lease to the first pass. @default 1 minute */
  firstDelayMs?: number;
  logger?: Logger;
}

/**
 * Runs event retention now and then on the daemon holding {@link RETENTION_LEASE} (a leased follower of
 * the daemon's delivery). A failed pass is logged; the next one tries again.
 */
export class RetentionJob {
  readonly lease = RETENTION_LEASE;
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private readonly logger: Logger;

  constructor(private readonly options: RetentionJobOptions) {
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'retention' });
  }

  start(): void {
    if (this.timer) return;
    this.schedule(this.options.firstDelayMs ?? 60_000);
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
        (r) => void (r.removed > 0 || r.expired > 0 ? this.logger.info(r, 'retention pass') : undefined),
        (err: unknown) => this.logger.warn({ err }, 'retention pass failed; the next pass retries'),
      ).finally(() => {
        this.pass = undefined;
        if (this.timer) this.schedule(this.options.intervalMs ?? 3_600_000);
      });
    }, ms);
    this.timer.unref?.();
  }
}
