import type { Logger } from 'pino';

/**
 * A loop that runs `work` until it reports nothing done, then sleeps `intervalMs` (or until woken).
 * `start`/`stop` are idempotent; `stop` waits for the iteration in flight.
 */
export class PollingLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly work: () => Promise<number>,
    private readonly options: { intervalMs: number; errorBackoffMs: number; logger: Logger; what: string },
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake();
    await this.loop;
    this.loop = undefined;
  }

  /** Runs the next iteration now instead of after the interval. */
  wake(): void {
    if (this.wakeUp) this.wakeUp();
    else this.woken = true;
  }

  private async run(): Promise<void> {
    while (this.running) {
      let wait = this.options.intervalMs;
      try {
        if ((await this.work()) > 0) wait = 0;
      } catch (err) {
        this.options.logger.warn({ err }, `${this.options.what} failed; retrying`);
        wait = this.options.errorBackoffMs;
      }
      if (!this.running) break;
      if (wait > 0) await this.sleep(wait);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.wakeUp = () => {
        clearTimeout(this.timer);
        this.wakeUp = undefined;
        this.woken = false;
        resolve();
      };
      this.timer = setTimeout(() => this.wakeUp?.(), ms);
    });
  }
}
