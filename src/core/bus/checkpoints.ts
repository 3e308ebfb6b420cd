/** Named cursors of catch-up readers (the relay). Postgres has a `checkpoints` table for a durable implementation. */
export interface CheckpointStore {
  load(name: string): Promise<string | undefined>;
  save(name: string, cursor: string): Promise<void>;
}

/** In-memory checkpoints (tests, single-process use). */
export class MemoryCheckpoints implements CheckpointStore {
  private readonly cursors = new Map<string, string>();
  async load(name: string): Promise<string | undefined> {
    return this.cursors.get(name);
  }
  async save(name: string, cursor: string): Promise<void> {
    this.cursors.set(name, cursor);
  }
}
