import { newId } from '../core/ids.js';
import type { AuditEntry, AuditFilter, AuditLog, NewAuditEntry } from '../core/ports/audit-log.js';

/** In-memory audit log (the reference implementation, for tests and embedding; lost on restart). */
export class MemoryAuditLog implements AuditLog {
  private readonly entries: AuditEntry[] = [];

  async record(entry: NewAuditEntry): Promise<AuditEntry> {
    const stored: AuditEntry = { ...structuredClone(entry), id: newId(), at: entry.at ?? new Date().toISOString() };
    this.entries.push(stored);
    return structuredClone(stored);
  }

  async list(filter: AuditFilter = {}): Promise<AuditEntry[]> {
    const since = filter.since === undefined ? undefined : new Date(filter.since).getTime();
    return this.entries
      .filter((e) => since === undefined || new Date(e.at).getTime() >= since)
      .reverse()
      .slice(0, filter.limit ?? 100)
      .map((e) => structuredClone(e));
  }
}
