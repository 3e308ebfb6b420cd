import type { SagaHistoryEntry } from './saga-store.js';

/** One page of saga transitions (history rows) read after a cursor. */
export interface TransitionPage {
  /** In commit-safe order: a transition that commits late is read after the ones before it, never skipped. */
  transitions: SagaHistoryEntry[];
  /** Where the next read continues (the cursor given when the page is empty). */
  next: string;
}

/**
 * The saga history of every instance as one ordered, gap-free feed, whichever daemon made the steps: what the
 * live feed (WebSocket bridge, dashboard, `waitFor`) follows. Cursors are opaque strings.
 */
export interface TransitionLog {
  /** A cursor after every transition committed so far: a follower starting here sees only new ones. */
  head(): Promise<string>;
  /** Transitions committed after `cursor`, at most `limit`. */
  readAfter(cursor: string, limit: number): Promise<TransitionPage>;
}
