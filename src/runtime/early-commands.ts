import type { HandedItem } from '../core/ports/work-queue.js';

/** A command handed to a worker process of this daemon before its work item was recorded. */
export interface EarlyCommand {
  /** Its work item, leased with the token it was handed with. */
  item: HandedItem;
  /** Its place in the log (`<tx>.<position>`). */
  cursor: string;
  /** When its lease ends (`Date.now()` ms). */
  until: number;
  /** When it was handed (`performance.now()` ms). */
  at: number;
}

const keyOf = (worker: string, eventId: string) => `${worker}\u0000${eventId}`;

/**
 * The commands the worker feed handed as soon as the step that emitted them committed, and whose work items are
 * not recorded yet (ADR 0018). The feed does not record them when it reads them; the first of these records
 * each: its completion (which inserts the item completed), its failure or lease extension (which record it
 * leased first), or the feed's upkeep once it has waited a second. Until then the feed's checkpoint stays
 * before the oldest of them ({@link floor}), so a crash leaves them to the next reading of the log.
 */
export class EarlyCommands {
  private readonly entries = new Map<string, EarlyCommand>();

  add(command: EarlyCommand): void {
    this.entries.set(keyOf(command.item.worker, command.item.event.id), command);
  }

  /** True while the command is handed early and not yet recorded. */
  has(worker: string, eventId: string): boolean {
    return this.entries.has(keyOf(worker, eventId));
  }

  /** The work item to record, when the command was handed early under this lease and the lease lasts. */
  recordFor(worker: string, eventId: string, token: string): HandedItem | undefined {
    const e = this.entries.get(keyOf(worker, eventId));
    return e && e.item.lease.token === token && e.until > Date.now() ? e.item : undefined;
  }

  /** The command's work item is recorded (or its lease is gone): forget it. */
  recorded(worker: string, eventId: string): void {
    this.entries.delete(keyOf(worker, eventId));
  }

  /** The commands handed at or before `handedBefore` (`performance.now()` ms) that are still unrecorded. */
  olderThan(handedBefore: number): EarlyCommand[] {
    return [...this.entries.values()].filter((e) => e.at <= handedBefore);
  }

  /** The cursor just before the oldest unrecorded command (the feed's checkpoint may not pass it), if any. */
  floor(): string | undefined {
    let min: [bigint, bigint] | undefined;
    for (const e of this.entries.values()) {
      const [tx, pos] = e.cursor.split('.').map((x) => BigInt(x)) as [bigint, bigint];
      if (!min || tx < min[0] || (tx === min[0] && pos < min[1])) min = [tx, pos];
    }
    return min ? `${min[0]}.${min[1] - 1n}` : undefined;
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
