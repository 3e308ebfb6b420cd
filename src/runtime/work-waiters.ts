/**
 * Wake-ups for workers waiting for commands (long-polls and in-process loops): the worker feed (or a
 * notification from the daemon that runs it) calls `notify` with the workers that got commands. A waiter
 * that started after the last notification for its worker returns at once, so none is missed between a
 * claim that found nothing and the wait that follows it.
 */
export class WorkWaiters {
  private readonly generations = new Map<string, number>();
  private readonly waiting = new Map<string, Set<() => void>>();

  /** The wake-up generation of `worker`: pass it to {@link wait}. */
  generation(worker: string): number {
    return this.generations.get(worker) ?? 0;
  }

  /** Wakes the waiters of `workers` (`'*'`: every worker). */
  notify(workers: readonly string[]): void {
    const names = workers.includes('*') ? [...new Set([...this.waiting.keys(), ...this.generations.keys()])] : workers;
    for (const w of names) {
      this.generations.set(w, this.generation(w) + 1);
      for (const wake of this.waiting.get(w) ?? []) wake();
    }
  }

  /**
   * Resolves on the next notification for `worker` after `generation`, after `ms`, on `signal`, or when
   * `until` settles (a claim handed commands directly).
   */
  wait(worker: string, generation: number, ms: number, signal?: AbortSignal, until?: Promise<unknown>): Promise<void> {
    if (this.generation(worker) !== generation || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const set = this.waiting.get(worker) ?? new Set();
      this.waiting.set(worker, set);
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        set.delete(done);
        if (set.size === 0) this.waiting.delete(worker);
        resolve();
      };
      const timer = setTimeout(done, ms);
      set.add(done);
      signal?.addEventListener('abort', done, { once: true });
      until?.then(done, done);
    });
  }
}
