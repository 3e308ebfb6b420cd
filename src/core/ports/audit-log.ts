/** One operator change, as the audit log keeps it (append-only: rows are never updated nor deleted). */
export interface AuditEntry {
  /** Time-ordered id (UUID v7). */
  id: string;
  /** When the call finished (ISO 8601). */
  at: string;
  /** Who: the API token's name. */
  actor: string;
  /** What: the action (`dlq.retry`, `saga.resume`, `events.publish`, ...). */
  action: string;
  /** On what: the route's parameters (`id=…`, `saga=… key=…`) or what the call named (an event's type and id). */
  target: string;
  /** Why, as the operator wrote it. */
  reason: string;
  /** `ok`, or the error code the call failed with (`INVALID_STATE`, `VALIDATION`, ...). */
  outcome: string;
  /** The target's state before and after the change, where the action knows it. */
  before?: unknown;
  after?: unknown;
}

export type NewAuditEntry = Omit<AuditEntry, 'id' | 'at'> & { at?: string };

export interface AuditFilter {
  /** Entries at or after this time (ISO 8601). */
  since?: string;
  /** @default 100 */
  limit?: number;
}

/** The audit log of operator changes: append and list, newest first. */
export interface AuditLog {
  record(entry: NewAuditEntry): Promise<AuditEntry>;
  list(filter?: AuditFilter): Promise<AuditEntry[]>;
}
