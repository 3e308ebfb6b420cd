import type { AnyMachineSnapshot } from 'xstate';
import { SagaStatus } from '../ports/saga-store.js';

/**
 * State tags the runtime reads to derive a saga's status. Put them on states with `tags: [...]`.
 *
 * | snapshot                                   | status         |
 * | ------------------------------------------ | -------------- |
 * | machine error (`status: 'error'`)           | `failed`       |
 * | any active state tagged `failed`            | `failed`       |
 * | final, tagged `compensated`                 | `compensated`  |
 * | final, otherwise                            | `completed`    |
 * | any active state tagged `suspended`         | `suspended`    |
 * | any active state tagged `compensating`      | `compensating` |
 * | otherwise                                   | `running`      |
 *
 * A final state tagged `failed` ends the saga as `failed` (a compensation that kept failing); a non-final
 * state tagged `failed` keeps the instance alive for an operator while showing it as failed.
 */
export const SagaTag = {
  Compensating: 'compensating',
  Compensated: 'compensated',
  Failed: 'failed',
  Suspended: 'suspended',
} as const;
export type SagaTag = (typeof SagaTag)[keyof typeof SagaTag];

/** Statuses after which an instance takes no more events. */
export const finishedStatuses: ReadonlySet<SagaStatus> = new Set<SagaStatus>([SagaStatus.Completed, SagaStatus.Compensated]);

/** Derives the saga status of a snapshot (see {@link SagaTag} for the convention). */
export function deriveStatus(snapshot: AnyMachineSnapshot): SagaStatus {
  if (snapshot.status === 'error') return SagaStatus.Failed;
  if (snapshot.hasTag(SagaTag.Failed)) return SagaStatus.Failed;
  if (snapshot.status === 'done') return snapshot.hasTag(SagaTag.Compensated) ? SagaStatus.Compensated : SagaStatus.Completed;
  if (snapshot.hasTag(SagaTag.Suspended)) return SagaStatus.Suspended;
  if (snapshot.hasTag(SagaTag.Compensating)) return SagaStatus.Compensating;
  return SagaStatus.Running;
}
