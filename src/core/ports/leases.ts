/**
 * Leases: one owner at a time for a named piece of work (a reader of the log, a saga partition), with an
 * epoch that grows at every change of owner. A holder proves it still owns the work by its epoch
 * (fencing): a write that carries an old epoch is refused.
 */
export interface LeaseGrant {
  name: string;
  /** The owner's proof: unchanged while it renews, bumped when another owner takes the lease. */
  epoch: number;
}

/** What a write checks in its own transaction: this owner still holds this lease at this epoch. */
export interface Fence {
  lease: string;
  owner: string;
  epoch: number;
}

export interface Leases {
  /**
   * Takes up to `limit` of the named leases that are free (released, never taken) or expired, each with a
   * bumped epoch; a lease this owner already holds is not returned. Returns what was taken.
   */
  acquire(names: readonly string[], owner: string, ttlMs: number, limit?: number): Promise<LeaseGrant[]>;
  /** Extends the leases this owner still holds at their epoch; returns the names still held. */
  renew(held: readonly LeaseGrant[], owner: string, ttlMs: number): Promise<string[]>;
  /** Gives leases back at once (shutdown, rebalancing): the next owner need not wait for them to expire. */
  release(held: readonly LeaseGrant[], owner: string): Promise<void>;
  /** Owners holding an unexpired lease whose name starts with `prefix` (e.g. the daemons' membership leases). */
  liveOwners(prefix: string): Promise<string[]>;
}
