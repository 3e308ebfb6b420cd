import { setMaxListeners } from 'node:events';
import pino, { type Logger } from 'pino';
import { BusFullError, ValidationError } from '../core/errors.js';
import type { EventEnvelope } from '../core/events/envelope.js';
import { systemClock, type Clock } from '../core/ports/clock.js';
import type { DeadLetters } from '../core/ports/dead-letters.js';
import type { EventBus, EventHandler, PublishOptions, SubscribeOptions, Subscription } from '../core/ports/event-bus.js';
import { cachedMatcher } from '../core/bus/cached-matcher.js';
import { Deliverer, type DeliveryOutcome, type DeliverySink } from '../core/bus/deliver.js';
import { KeyedQueue } from '../core/bus/keyed-queue.js';
import { Semaphore } from '../core/bus/semaphore.js';
import { realSleep, type Sleep } from '../core/bus/sleep.js';
import { resolveSubscription, type HandlerDefaults, type ResolvedSubscription } from '../core/bus/subscription-options.js';
import { MemoryDeadLetters } from './dead-letters.js';

/** What `publish` does when the buffer is full. */
export const OverflowPolicy = { Wait: 'wait', Reject: 'reject' } as const;
export type OverflowPolicy = (typeof OverflowPolicy)[keyof typeof OverflowPolicy];

/** Options of {@link MemoryBroker}. */
export interface MemoryBrokerOptions {
  /** Events accepted but not yet finished by every matching group (`EVENT_BUS_BUFFER_SIZE`). @default 10000 */
  bufferSize?: number;
  /** When the buffer is full: `wait` for room, or `reject` with `BusFullError`. @default 'wait' */
  overflow?: OverflowPolicy;
}

interface Entry {
  event: EventEnvelope;
  /** Groups that still have to finish this event; its buffer slot is freed at 0. */
  pending: number;
}

/** One subscription of one bus instance in a group; receives its deliveries' outcomes. */
class Member implements DeliverySink<Entry> {
  active = true;
  dead = false;
  readonly inFlight = new Map<Entry, string>();
  readonly idle: Array<() => void> = [];
  group: Group | undefined;

  constructor(
    readonly bus: MemoryEventBus,
    readonly sub: ResolvedSubscription,
    readonly deliverer: Deliverer,
  ) {}

  delivered(outcome: DeliveryOutcome, entry: Entry): void {
    this.group?.delivered(this, entry, outcome);
  }
}

const resolved = Promise.resolve();

class Group {
  readonly queue = new KeyedQueue<Entry>();
  readonly members: Member[] = [];
  private next = 0;
  constructor(
    readonly name: string,
    readonly pattern: string,
    readonly matches: (type: string) => boolean,
    private readonly broker: MemoryBroker,
  ) {}

  /** Hands ready entries to members with spare concurrency, round-robin. */
  pump(): void {
    for (;;) {
      const member = this.pickMember();
      if (!member) return;
      const taken = this.queue.take();
      if (!taken) return;
      member.inFlight.set(taken.item, taken.key);
      member.bus.deliverEntry(member, taken.item);
    }
  }

  private pickMember(): Member | undefined {
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[(this.next + i) % this.members.length]!;
      if (m.active && !m.dead && m.bus.running && m.inFlight.size < m.sub.concurrency) {
        this.next = (this.next + i + 1) % this.members.length;
        return m;
      }
    }
    return undefined;
  }

  /** A delivery ended (called by the member's sink). */
  delivered(member: Member, entry: Entry, outcome: DeliveryOutcome): void {
    if (member.dead || !member.inFlight.has(entry)) return; // crashed: the entry was already handed back
    const key = member.inFlight.get(entry)!;
    member.inFlight.delete(entry);
    if (outcome === 'abandoned') this.queue.unshift(key, entry);
    else {
      this.queue.release(key);
      this.broker.finish(entry);
    }
    if (member.inFlight.size === 0 && member.idle.length > 0) for (const w of member.idle.splice(0)) w();
    this.pump();
  }

  /** Hands a member's in-flight entries back to the group (a consumer that died mid-handler). */
  evict(member: Member): void {
    const i = this.members.indexOf(member);
    if (i >= 0) this.members.splice(i, 1);
    for (const [entry, key] of member.inFlight) this.queue.unshift(key, entry);
    member.inFlight.clear();
    for (const w of member.idle.splice(0)) w();
    if (this.members.length === 0) this.broker.dropGroup(this);
    else this.pump();
  }
}

/**
 * The in-process "server" of the memory bus: groups, their queues and the bounded buffer. Several
 * {@link MemoryEventBus} instances may share one broker; they then behave like processes sharing a
 * Redis server (competing consumers within a group, fan-out across groups).
 */
export class MemoryBroker {
  readonly capacity: number;
  readonly overflow: OverflowPolicy;
  private used = 0;
  private readonly waiters: Array<() => void> = [];
  private readonly groups = new Map<string, Group>();

  constructor(options: MemoryBrokerOptions = {}) {
    this.capacity = options.bufferSize ?? 10_000;
    this.overflow = options.overflow ?? 'wait';
    if (!Number.isInteger(this.capacity) || this.capacity < 1) {
      throw new ValidationError('memory bus options', [{ path: 'bufferSize', message: `must be an integer >= 1, got ${String(this.capacity)}` }]);
    }
  }

  /** Events occupying the buffer. */
  get depth(): number {
    return this.used;
  }

  /**
   * Accepts events into the buffer (each takes a slot until every matching group is done with it).
   * Returns a settled promise when there was room for all of them (the common case: no async frame).
   */
  publish(events: EventEnvelope[], orderingKey: string | undefined): Promise<void> {
    if (this.overflow === 'reject' && this.used + events.length > this.capacity) return Promise.reject(new BusFullError(this.capacity));
    for (let i = 0; i < events.length; i++) {
      if (this.used >= this.capacity) return this.publishWaiting(events, i, orderingKey);
      this.used++;
      this.enqueue(events[i]!, orderingKey);
    }
    return resolved;
  }

  /** Slow path of {@link publish}: waits for a slot per event (`overflow: 'wait'`). */
  private async publishWaiting(events: EventEnvelope[], from: number, orderingKey: string | undefined): Promise<void> {
    for (let i = from; i < events.length; i++) {
      if (this.used >= this.capacity) await new Promise<void>((resolve) => this.waiters.push(resolve)); // the slot is handed over
      else this.used++;
      this.enqueue(events[i]!, orderingKey);
    }
  }

  /** Queues an event (holding one buffer slot) on every matching group. */
  private enqueue(event: EventEnvelope, orderingKey: string | undefined): void {
    // pending starts at 1 so the slot cannot be freed before every group has the entry.
    const entry: Entry = { event, pending: 1 };
    const key = orderingKey ?? event.streamId;
    for (const g of this.groups.values()) {
      if (!g.matches(event.type)) continue;
      entry.pending++;
      g.queue.push(key, entry);
      g.pump();
    }
    this.finish(entry);
  }

  join(member: Member): Group {
    let g = this.groups.get(member.sub.group);
    if (!g) {
      g = new Group(member.sub.group, member.sub.pattern, cachedMatcher(member.sub.pattern), this);
      this.groups.set(g.name, g);
    } else if (g.pattern !== member.sub.pattern) {
      throw new ValidationError('subscription', [{ path: 'group', message: `group "${g.name}" already subscribes to "${g.pattern}", not "${member.sub.pattern}"` }]);
    }
    g.members.push(member);
    return g;
  }

  /** Wakes every group (a bus started again). */
  pumpAll(): void {
    for (const g of this.groups.values()) g.pump();
  }

  finish(entry: Entry): void {
    if (--entry.pending === 0) this.release();
  }

  dropGroup(g: Group): void {
    if (this.groups.get(g.name) !== g) return;
    this.groups.delete(g.name);
    for (const entry of g.queue.drain()) this.finish(entry);
  }

  private release(): void {
    // A waiting publisher takes the freed slot over directly, so nobody can overtake it.
    const w = this.waiters.shift();
    if (w) w();
    else this.used--;
  }
}

/** Options of {@link createMemoryBus}. */
export interface MemoryBusOptions extends MemoryBrokerOptions {
  /** Handler invocations in flight at once across all subscriptions (`EVENT_BUS_WORKERS`). @default 10 */
  workers?: number;
  /** Defaults for `subscribe` (`EVENT_PROCESSING_TIMEOUT` → `timeoutMs`, retry policy). */
  handlerDefaults?: HandlerDefaults;
  /** Where exhausted and poison events go. @default a new MemoryDeadLetters */
  deadLetters?: DeadLetters;
  /** Share a broker between instances (competing consumers in one process); `bufferSize`/`overflow` are then the broker's. */
  broker?: MemoryBroker;
  logger?: Logger;
  clock?: Clock;
  /** Injected wait for backoff (tests pass a fake). */
  sleep?: Sleep;
  /** Jitter source. @default Math.random */
  random?: () => number;
}

/**
 * The in-memory event bus (the default transport): a bounded buffer, a worker pool, per-key order
 * per group, retries with backoff and dead letters. Not durable: events in the buffer are lost when
 * the process exits (use durable publish or Redis for that).
 */
export class MemoryEventBus implements EventBus {
  readonly broker: MemoryBroker;
  readonly deadLetters: DeadLetters;
  private readonly workers: Semaphore;
  private readonly logger: Logger;
  private readonly members = new Set<Member>();
  private stopController = new AbortController();
  private _running = false;

  constructor(private readonly options: MemoryBusOptions = {}) {
    this.broker = options.broker ?? new MemoryBroker(options);
    this.deadLetters = options.deadLetters ?? new MemoryDeadLetters();
    this.workers = new Semaphore(options.workers ?? 10);
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'memory-bus' });
  }

  get running(): boolean {
    return this._running;
  }

  publish(events: EventEnvelope | EventEnvelope[], options?: PublishOptions): Promise<void> {
    return this.broker.publish(Array.isArray(events) ? events : [events], options?.orderingKey);
  }

  async subscribe(pattern: string, handler: EventHandler, options: SubscribeOptions = {}): Promise<Subscription> {
    const sub = resolveSubscription(pattern, options, this.options.handlerDefaults);
    const o = this.options;
    const deliverer = new Deliverer({
      handler,
      subscription: sub,
      deadLetters: this.deadLetters,
      logger: this.logger,
      clock: o.clock ?? systemClock,
      sleep: o.sleep ?? realSleep,
      random: o.random ?? Math.random,
      workers: this.workers,
    });
    const member = new Member(this, sub, deliverer);
    const group = this.broker.join(member);
    member.group = group;
    this.members.add(member);
    group.pump();
    return {
      pattern,
      group: sub.group,
      unsubscribe: async () => {
        if (!member.active) return;
        member.active = false;
        if (member.inFlight.size > 0) await new Promise<void>((resolve) => member.idle.push(resolve));
        this.members.delete(member);
        group.evict(member);
      },
    };
  }

  async start(): Promise<void> {
    if (this._running) return;
    if (this.stopController.signal.aborted) this.stopController = new AbortController();
    // Every in-flight attempt and backoff wait listens on this signal.
    setMaxListeners(0, this.stopController.signal);
    this._running = true;
    this.broker.pumpAll();
  }

  async stop(options: { drainTimeoutMs?: number } = {}): Promise<void> {
    if (!this._running) return;
    this._running = false;
    const busy = [...this.members].filter((m) => m.inFlight.size > 0);
    const drained = Promise.all(busy.map((m) => new Promise<void>((resolve) => m.idle.push(resolve))));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, options.drainTimeoutMs ?? 10_000)));
    await Promise.race([drained, timeout]);
    clearTimeout(timer);
    // Abort what is still running: those deliveries end as `abandoned` and go back to their group.
    this.stopController.abort(new Error('event bus stopped'));
    await drained;
  }

  /**
   * Test hook: simulates this instance dying. Its handlers' results are ignored and the events they
   * held go back to their groups for other members, as an unacknowledged Redis entry would.
   */
  crash(): void {
    this._running = false;
    this.stopController.abort(new Error('event bus crashed'));
    for (const m of this.members) {
      m.dead = true;
      m.group?.evict(m);
    }
    this.members.clear();
  }

  /** @internal Runs one delivery through the shared retry loop; the outcome goes to the member. */
  deliverEntry(member: Member, entry: Entry): void {
    member.deliverer.deliver(entry.event, this.stopController.signal, member, entry);
  }
}

/**
 * Creates the in-memory bus. Call `start()` to begin delivery.
 *
 * @example
 * const bus = createMemoryBus({ bufferSize: 10_000, workers: 10 });
 * await bus.subscribe('task.*', async (event, { signal }) => handle(event, signal), { group: 'tasks', maxAttempts: 3 });
 * await bus.start();
 * await bus.publish(createEvent({ type: 'task.created', data: { title: 'x' } }));
 */
export function createMemoryBus(options: MemoryBusOptions = {}): MemoryEventBus {
  return new MemoryEventBus(options);
}
