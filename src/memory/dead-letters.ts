import { newId } from '../core/ids.js';
import type { DeadLetter, DeadLetterFilter, DeadLetters, NewDeadLetter } from '../core/ports/dead-letters.js';

/** In-memory dead letters (the reference implementation; lost on restart). */
export class MemoryDeadLetters implements DeadLetters {
  private readonly letters = new Map<string, DeadLetter>();

  async add(letter: NewDeadLetter): Promise<DeadLetter> {
    const stored: DeadLetter = { ...structuredClone(letter), id: newId(), status: 'open' };
    this.letters.set(stored.id, stored);
    return structuredClone(stored);
  }

  async list(filter: DeadLetterFilter = {}): Promise<DeadLetter[]> {
    return [...this.letters.values()]
      .filter(
        (l) =>
          (!filter.status || l.status === filter.status) &&
          (!filter.handlerId || l.handlerId === filter.handlerId) &&
          (!filter.saga || l.saga === filter.saga) &&
          (!filter.sagaKey || l.sagaKey === filter.sagaKey),
      )
      .slice(0, filter.limit ?? 100)
      .map((l) => structuredClone(l));
  }

  async get(id: string): Promise<DeadLetter | undefined> {
    const l = this.letters.get(id);
    return l ? structuredClone(l) : undefined;
  }

  async resolve(id: string, status: 'retried' | 'discarded', note?: string): Promise<boolean> {
    const l = this.letters.get(id);
    if (!l || l.status !== 'open') return false;
    l.status = status;
    if (note !== undefined) l.note = note;
    return true;
  }
}
