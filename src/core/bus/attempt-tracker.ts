/**
 * Something in flight that can be cut short: a handler attempt. `cut` is called at most once, by the
 * tracker, when the attempt's deadline passes (`timedOut` true) or the stop signal aborts.
 */
export interface Cuttable {
  /** Called once when the deadline passes or the stop signal aborts; never after `untrack`. */
  cut(timedOut: boolean, reason: unknown): void;
  /** @internal list links and deadline, owned by the tracker. */
  prev: Cuttable | undefined;
  next: Cuttable | undefined;
  deadline: number;
  list: DeadlineList | undefined;
}

/** A FIFO of attempts sharing one timeout: appended in start order, so deadlines are ascending. */
class DeadlineList {
  head: Cuttable | undefined;
  tail: Cuttable | undefined;
  constructor(readonly timeoutMs: number) {}
}

const now = (): number => performance.now();

/**
 * Deadlines and stop-cancellation for every attempt running under one stop signal, without a timer,
 * an AbortController or an abort listener per attempt: attempts sit in one doubly linked list per
 * timeout value (start order = deadline order), a single timer is armed for the earliest deadline, and
 * one abort listener on the stop signal cuts everything still in flight. Add and remove are O(1).
 */
export class AttemptTracker {
  private readonly lists = new Map<number, DeadlineList>();
  private count = 0;
  private timer: NodeJS.Timeout | undefined;
  private armedFor = Infinity;
  private readonly fire = (): void => this.expire();

  constructor(private readonly stopSignal: AbortSignal) {
    if (!stopSignal.aborted) stopSignal.addEventListener('abort', () => this.cutAll(), { once: true });
  }

  /** The tracker for `signal` (one per signal, created on first use). */
  static for(signal: AbortSignal): AttemptTracker {
    let t = trackers.get(signal);
    if (!t) trackers.set(signal, (t = new AttemptTracker(signal)));
    return t;
  }

  /** Number of attempts being tracked. */
  get size(): number {
    return this.count;
  }

  /** Starts tracking; cuts at once (synchronously) if the stop signal already aborted. */
  add(a: Cuttable, timeoutMs: number): void {
    if (this.stopSignal.aborted) {
      a.cut(false, this.stopSignal.reason);
      return;
    }
    let list = this.lists.get(timeoutMs);
    if (!list) this.lists.set(timeoutMs, (list = new DeadlineList(timeoutMs)));
    a.deadline = now() + timeoutMs;
    a.list = list;
    a.next = undefined;
    a.prev = list.tail;
    if (list.tail) list.tail.next = a;
    else list.head = a;
    list.tail = a;
    this.count++;
    if (a.deadline < this.armedFor) this.arm(a.deadline);
  }

  /** Stops tracking (the attempt finished). Safe to call twice. */
  remove(a: Cuttable): void {
    const list = a.list;
    if (!list) return;
    if (a.prev) a.prev.next = a.next;
    else list.head = a.next;
    if (a.next) a.next.prev = a.prev;
    else list.tail = a.prev;
    a.prev = a.next = a.list = undefined;
    if (--this.count === 0) this.disarm();
  }

  private arm(deadline: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.armedFor = deadline;
    this.timer = setTimeout(this.fire, Math.max(0, Math.ceil(deadline - now())));
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedFor = Infinity;
  }

  private expire(): void {
    this.timer = undefined;
    this.armedFor = Infinity;
    const t = now();
    const due: Cuttable[] = [];
    let next = Infinity;
    for (const list of this.lists.values()) {
      while (list.head && list.head.deadline <= t) {
        const a = list.head;
        this.remove(a);
        due.push(a);
      }
      if (list.head) next = Math.min(next, list.head.deadline);
      else this.lists.delete(list.timeoutMs);
    }
    if (next !== Infinity) this.arm(next);
    for (const a of due) a.cut(true, undefined);
  }

  private cutAll(): void {
    const all: Cuttable[] = [];
    for (const list of this.lists.values()) for (let a = list.head; a; a = a.next) all.push(a);
    for (const a of all) this.remove(a);
    this.lists.clear();
    for (const a of all) a.cut(false, this.stopSignal.reason);
  }
}

const trackers = new WeakMap<AbortSignal, AttemptTracker>();
