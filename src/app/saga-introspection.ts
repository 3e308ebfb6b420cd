import type { SagaInstance } from '../core/ports/saga-store.js';
import { restoreSnapshot } from '../core/saga/decider.js';
import type { SagaDefinition } from '../core/saga/define-saga.js';

interface StateNodeLike {
  ownEvents?: readonly string[];
}

/**
 * Domain event types the instance's current state accepts (guards not evaluated: an event listed
 * here may still be refused by a guard). Internal events (`xstate.*` timers) are left out; pending
 * timers are reported separately. Empty when the snapshot cannot be restored.
 */
export function acceptedEvents(saga: SagaDefinition, instance: SagaInstance): string[] {
  try {
    const snapshot = restoreSnapshot(saga, instance.snapshot) as unknown as { _nodes?: readonly StateNodeLike[]; status?: string };
    if (snapshot.status === 'done') return [];
    const types = new Set<string>();
    for (const node of snapshot._nodes ?? []) for (const t of node.ownEvents ?? []) if (!t.startsWith('xstate.') && t !== '*') types.add(t);
    return [...types].sort();
  } catch {
    return [];
  }
}
