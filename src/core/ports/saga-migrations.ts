import type { SagaInstance } from './saga-store.js';

/** An instance a migration may move: its stored revision, version, state and context. */
export type MigrationCandidate = Pick<SagaInstance, 'saga' | 'key' | 'version' | 'definitionVersion' | 'status' | 'state' | 'context'>;

/** One instance's move to another definition version, checked against the revision it was read at. */
export interface InstanceMove {
  key: string;
  /** The instance's row version (revision) when read: the move applies only if it is unchanged. */
  expectedVersion: number;
  fromState: unknown;
  status: SagaInstance['status'];
  state: unknown;
  context: Record<string, unknown>;
  snapshot: unknown;
}

/**
 * Storage side of `sagaflow sagas migrate`: finds the unfinished instances of a saga version and moves
 * them to another version, each move with a history row, fenced by the instance's revision.
 */
export interface SagaMigrationStore {
  /**
   * Unfinished (not completed or compensated) instances of `saga` on version `from`, by key: those with a key
   * after `after` (at most `limit`), or exactly those of `keys`.
   */
  candidates(saga: string, from: number, options: { after?: string; limit: number } | { keys: readonly string[] }): Promise<MigrationCandidate[]>;
  /**
   * Moves instances from version `from` to `to` in one transaction: each instance's row (its revision +1) and
   * its history row (kind `migrated`, `note`) together. An instance whose revision or version changed since it
   * was read is left as it is. Returns the keys moved.
   */
  move(saga: string, from: number, to: number, moves: readonly InstanceMove[], note: string): Promise<string[]>;
}
