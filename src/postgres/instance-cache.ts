import type { SagaInstance } from '../core/ports/saga-store.js';

/**
 * The instances this process last wrote or read, by (saga, key), at most `capacity` of them (the least
 * recently used go first): an event step that finds its instance here skips its read. Safe because every
 * write checks the version it decided on — an entry another writer made stale costs one refused write and a
 * fresh read (the repository drops the entry on any failed write). Entries are what the database returns,
 * not the objects a step wrote: JSON values, as a read would give them.
 */
export class InstanceCache {
  private readonly entries = new Map<string, SagaInstance>();

  constructor(private readonly capacity = 10_000) {}

  get(saga: string, key: string): SagaInstance | undefined {
    const id = `${saga}\u0000${key}`;
    const hit = this.entries.get(id);
    if (hit) {
      this.entries.delete(id);
      this.entries.set(id, hit);
    }
    return hit;
  }

  set(instance: SagaInstance): void {
    const id = `${instance.saga}\u0000${instance.key}`;
    this.entries.delete(id);
    this.entries.set(id, instance);
    if (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value!);
  }

  delete(saga: string, key: string): void {
    this.entries.delete(`${saga}\u0000${key}`);
  }
}
