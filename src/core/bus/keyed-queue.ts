/**
 * A FIFO of items grouped by ordering key: `take()` hands out the oldest item whose key has nothing
 * in flight, so items of one key are processed one at a time in order while other keys proceed.
 * All operations are O(1): each key has its own queue, and a ready list holds idle keys with work.
 */
export class KeyedQueue<T> {
  private readonly queues = new Map<string, T[]>();
  private readonly busy = new Set<string>();
  private readonly ready: string[] = [];
  private readyHead = 0;
  private count = 0;

  /** Items queued (not in flight). */
  get size(): number {
    return this.count;
  }

  /** Keys with an item in flight. */
  get inFlight(): number {
    return this.busy.size;
  }

  push(key: string, item: T): void {
    const q = this.queues.get(key);
    this.count++;
    if (q) {
      q.push(item);
      return;
    }
    this.queues.set(key, [item]);
    if (!this.busy.has(key)) this.ready.push(key);
  }

  /** Puts an item back at the head of its key (a delivery that was not finished). Releases the key. */
  unshift(key: string, item: T): void {
    const q = this.queues.get(key);
    this.count++;
    if (q) q.unshift(item);
    else this.queues.set(key, [item]);
    if (this.busy.delete(key) || !q) this.ready.push(key);
  }

  /** The oldest item of an idle key, marking the key busy; undefined when none is ready. */
  take(): { key: string; item: T } | undefined {
    while (this.readyHead < this.ready.length) {
      const key = this.ready[this.readyHead++]!;
      if (this.readyHead > 1024 && this.readyHead * 2 > this.ready.length) {
        this.ready.splice(0, this.readyHead);
        this.readyHead = 0;
      }
      const q = this.queues.get(key);
      if (!q || q.length === 0 || this.busy.has(key)) continue;
      const item = q.shift()!;
      if (q.length === 0) this.queues.delete(key);
      this.busy.add(key);
      this.count--;
      return { key, item };
    }
    return undefined;
  }

  /** Marks the key's in-flight item finished; its next item (if any) becomes ready. */
  release(key: string): void {
    if (!this.busy.delete(key)) return;
    if (this.queues.has(key)) this.ready.push(key);
  }

  /** Removes and returns every queued item (not those in flight). */
  drain(): T[] {
    const all = [...this.queues.values()].flat();
    for (const key of this.queues.keys()) if (!this.busy.has(key)) this.queues.delete(key);
    this.queues.clear();
    this.ready.length = 0;
    this.readyHead = 0;
    this.count = 0;
    return all;
  }
}
