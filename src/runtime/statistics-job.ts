import type { Logger } from 'pino';
import { LeasedJob } from './leased-job.js';

/** The lease of the statistics job: it runs on one daemon of a schema. */
export const STATISTICS_LEASE = 'job:statistics';

/**
 * Refreshes the planner's statistics of the schema's tables that grew since they were taken, where no
 * autovacuum does it (ADR 0019), on the daemon holding {@link STATISTICS_LEASE}: every 5 seconds, the first
 * pass a second after it took the lease. `run` resolves with the tables it analyzed.
 */
export class StatisticsJob extends LeasedJob<string[]> {
  constructor(options: { run: () => Promise<string[]>; logger?: Logger; intervalMs?: number }) {
    super({
      lease: STATISTICS_LEASE, name: 'statistics', run: options.run,
      report: (tables, logger) => void (tables.length > 0 ? logger.debug({ tables }, 'table statistics refreshed') : undefined),
      intervalMs: options.intervalMs ?? 5000, firstDelayMs: 1000,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  }
}
