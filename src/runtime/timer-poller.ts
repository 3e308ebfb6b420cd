import { pino, type Logger } from 'pino';
import { PollingLoop } from './polling-loop.js';

/** What the poller drives: the runtime's `fireDueTimers`. */
export interface TimerFirer {
  /** Fires up to `limit` due timers; returns how many were looked at. */
  fireDueTimers(limit: number): Promise<number>;
}

/** Options of {@link TimerPoller}. */
export interface TimerPollerOptions {
  /** @default 100 */
  batchSize?: number;
  /** @default 250 */
  intervalMs?: number;
  /** @default 1000 */
  errorBackoffMs?: number;
  logger?: Logger;
}

/**
 * Fires durable timers. Each due timer is claimed with `FOR UPDATE SKIP LOCKED` inside the step that applies
 * it (claim, apply and delete commit together), so several pollers in several processes never fire one twice
 * in effect; and because a timer's event id is derived from saga, key, timer id and due time, even a double
 * fire would be a duplicate to the inbox.
 */
export class TimerPoller {
  private readonly loop: PollingLoop;
  private readonly batchSize: number;

  constructor(private readonly firer: TimerFirer, options: TimerPollerOptions = {}) {
    this.batchSize = options.batchSize ?? 100;
    const logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'timer-poller' });
    this.loop = new PollingLoop(() => this.runOnce(), {
      intervalMs: options.intervalMs ?? 250,
      errorBackoffMs: options.errorBackoffMs ?? 1000,
      logger,
      what: 'timer poll',
    });
  }

  /** Fires one batch of due timers; returns how many were due. */
  runOnce(): Promise<number> {
    return this.firer.fireDueTimers(this.batchSize);
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
