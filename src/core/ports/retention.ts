/** What a retention pass must never remove (see `docs/sourcing.md`). */
export interface RetentionRules {
  /** Events that occurred before this instant are expired. */
  cutoff: Date;
  /** Aggregate types of loaded aggregates: their streams keep every event after their latest snapshot. */
  aggregateTypes: readonly string[];
}

/** What a retention pass found (and, unless a dry run, removed). */
export interface RetentionReport {
  cutoff: string;
  mode: 'delete' | 'archive';
  dryRun: boolean;
  /** Expired events. */
  expired: number;
  /** Expired events kept, by the first reason that holds: a reader has not passed them, a saga still running applied them, an aggregate needs them. */
  kept: { unread: number; liveSaga: number; aggregate: number };
  /** Expired events that go (or, in a dry run, would go). */
  removed: number;
  /** What goes, per event type. */
  byType: Array<{ type: string; count: number }>;
  /** The reader whose checkpoint holds expired events back (the slowest), when one does. */
  slowestReader?: string;
}
