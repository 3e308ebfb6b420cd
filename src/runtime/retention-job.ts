import type { Logger } from 'pino';
import { LeasedJob } from './leased-job.js';

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

/** Runs event retention now and then on the daemon holding {@link RETENTION_LEASE}. */
export class RetentionJob extends LeasedJob<{ removed: number; expired: number }> {
  constructor(options: RetentionJobOptions) {
    super({
      lease: RETENTION_LEASE, name: 'retention', run: options.run,
      report: (r, logger) => void (r.removed > 0 || r.expired > 0 ? logger.info(r, 'retention pass') : undefined),
      intervalMs: options.intervalMs ?? 3_600_000, firstDelayMs: options.firstDelayMs ?? 60_000,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
}
