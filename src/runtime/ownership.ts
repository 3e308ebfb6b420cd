import { pino, type Logger } from 'pino';
import type { Fence, LeaseGrant, Leases } from '../core/ports/leases.js';

/** Options of {@link Ownership}. */
export interface OwnershipOptions {
  leases: Leases;
  /** This daemon's identity in the `leases` table. */
  owner: string;
  /** Number of saga partitions (the same on every daemon of a schema). */
  partitions: number;
  /** Lease length; renewed every third of it. A dead owner's work moves after at most this long. */
  ttlMs: number;
  /** Singleton leases this daemon competes for (e.g. `relay:bus-relay`): one owner across all daemons. */
  singletons?: readonly string[];
  /** Called after the set of owned leases changed (gained or lost). */
  onChange?: () => void;
  logger?: Logger;
}

const memberPrefix = 'member:';
const partitionPrefix = 'sagas:partition:';

/** The lease name of saga partition `p`. */
export const partitionLease = (p: number) => `${partitionPrefix}${p}`;

/** FNV-1a, 32 bit: a stable hash of a saga instance onto its partition (the same in every process). */
export function partitionOf(saga: string, key: string, partitions: number): number {
  let h = 0x811c9dc5;
  const text = `${saga}\u0000${key}`;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % partitions;
}

/**
 * Which work this daemon owns, kept by leases: a membership lease (so daemons can count each other), the
 * singletons it holds (one owner across daemons, e.g. the bus relay) and its share of the saga partitions —
 * `ceil(partitions / live daemons)` at most, the rest released for the others. Every `ttlMs / 3` it renews
 * what it holds, takes free or expired leases up to its share and gives back what is over it; a lease it
 * failed to renew is gone (another daemon may own it now). `stop()` releases everything at once, so the
 * next owner starts without waiting for expiry.
 */
export class Ownership {
  private readonly logger: Logger;
  private readonly held = new Map<string, LeaseGrant>();
  private timer: NodeJS.Timeout | undefined;
  private ticking: Promise<void> | undefined;
  private running = false;

  constructor(private readonly options: OwnershipOptions) {
    this.logger = (options.logger ?? pino({ level: 'silent' })).child({ component: 'ownership', owner: options.owner });
  }

  get owner(): string {
    return this.options.owner;
  }

  /** The fence of a held lease, or undefined when this daemon does not hold it. */
  fence(lease: string): Fence | undefined {
    const g = this.held.get(lease);
    return g ? { lease, owner: this.options.owner, epoch: g.epoch } : undefined;
  }

  /** Saga partitions this daemon holds, with their fences. */
  ownedPartitions(): Map<number, Fence> {
    const out = new Map<number, Fence>();
    for (const [name, g] of this.held) {
      if (name.startsWith(partitionPrefix)) out.set(Number(name.slice(partitionPrefix.length)), { lease: name, owner: this.options.owner, epoch: g.epoch });
    }
    return out;
  }

  /** Drops a lease a fenced write found lost (no release: it is someone else's now). */
  lost(lease: string): void {
    if (this.held.delete(lease)) {
      this.logger.warn({ lease }, 'lease lost to another daemon');
      this.options.onChange?.();
    }
  }

  /** Takes the first share at once, then keeps it in the background. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    await this.tick();
    const every = Math.max(50, Math.floor(this.options.ttlMs / 3));
    const loop = () => {
      this.timer = setTimeout(() => {
        this.ticking = this.tick().finally(() => {
          this.ticking = undefined;
          if (this.running) loop();
        });
      }, every);
    };
    loop();
  }

  /** Stops renewing and releases every lease held. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.timer);
    await this.ticking;
    const all = [...this.held.values()];
    this.held.clear();
    await this.options.leases.release(all, this.options.owner).catch((err: unknown) => this.logger.warn({ err }, 'releasing leases failed; they expire'));
  }

  /** One round: renew, count daemons, take or give back partitions. Errors are logged; the next round retries. */
  async tick(): Promise<void> {
    const { leases, owner, ttlMs, partitions } = this.options;
    let changed = false;
    try {
      const member = `${memberPrefix}${owner}`;
      const current = [...this.held.values()];
      const kept = new Set(await leases.renew(current, owner, ttlMs));
      for (const g of current) {
        if (!kept.has(g.name)) {
          this.held.delete(g.name);
          changed = true;
          this.logger.warn({ lease: g.name }, 'lease not renewed in time; another daemon may own it now');
        }
      }
      for (const g of await leases.acquire([member, ...(this.options.singletons ?? [])], owner, ttlMs)) {
        this.held.set(g.name, g);
        if (g.name !== member) changed = true;
      }
      const daemons = Math.max(1, (await leases.liveOwners(memberPrefix)).length);
      const share = Math.ceil(partitions / daemons);
      const mine = [...this.held.keys()].filter((n) => n.startsWith(partitionPrefix));
      if (mine.length < share) {
        const wanted = Array.from({ length: partitions }, (_, p) => partitionLease(p)).filter((n) => !this.held.has(n));
        for (const g of await leases.acquire(wanted, owner, ttlMs, share - mine.length)) {
          this.held.set(g.name, g);
          changed = true;
        }
      } else if (mine.length > share) {
        const extra = mine.slice(share).map((n) => this.held.get(n)!);
        for (const g of extra) this.held.delete(g.name);
        await leases.release(extra, owner);
        changed = true;
      }
    } catch (err) {
      this.logger.warn({ err }, 'lease round failed; retrying');
    }
    if (changed) {
      this.logger.info({ partitions: [...this.ownedPartitions().keys()].sort((a, b) => a - b), singletons: (this.options.singletons ?? []).filter((s) => this.held.has(s)) }, 'ownership changed');
      this.options.onChange?.();
    }
  }
}
