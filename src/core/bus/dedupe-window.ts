/**
 * Remembers recently handled event ids (bounded, oldest forgotten first) and the handler run in
 * progress per id, so the same event arriving over two transports (hybrid failover) or twice over one
 * runs the handler successfully at most once per process while it is remembered.
 */
export class DedupeWindow {
  private readonly done = new Map<string, true>();
  private readonly running = new Map<string, Promise<unknown>>();

  constructor(private readonly capacity = 100_000) {}

  /** Runs `fn` for `id` unless it already succeeded; a copy arriving while one runs waits for it first. */
  async run(id: string, fn: () => Promise<void> | void): Promise<'ran' | 'duplicate'> {
    for (let i = 0; i < 1000; i++) {
      if (this.done.has(id)) return 'duplicate';
      const inFlight = this.running.get(id);
      if (!inFlight) break;
      await inFlight.catch(() => undefined);
    }
    const p = Promise.resolve().then(fn);
    this.running.set(id, p);
    try {
      await p;
      this.remember(id);
      return 'ran';
    } finally {
      if (this.running.get(id) === p) this.running.delete(id);
    }
  }

  has(id: string): boolean {
    return this.done.has(id);
  }

  private remember(id: string): void {
    this.done.set(id, true);
    if (this.done.size > this.capacity) {
      const oldest = this.done.keys().next().value;
      if (oldest !== undefined) this.done.delete(oldest);
    }
  }
}
