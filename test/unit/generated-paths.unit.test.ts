/**
 * Tests generated from the statecharts of the example sagas: every path `pathsOf` picks (together they take
 * every reachable transition, compensation and timer paths included) runs through the saga test kit and must
 * end in the state the statechart says. With SAGAFLOW_COVERAGE_DIR set, these runs are recorded for
 * `sagaflow test-coverage`.
 */
import { describe, expect, it } from 'vitest';
import { pathsOf, runPath, sagaTransitions, unreachableTransitions } from 'sagaflow/testing';
import { CollaborationProcessManager, TaskProcessing } from '../../sagas/index.js';

describe.each([TaskProcessing, CollaborationProcessManager])('generated paths of $name', (saga) => {
  const paths = pathsOf(saga);

  it.each(paths.map((p) => [p.name, p] as const))('%s', async (_name, path) => {
    await runPath(saga, path);
  });

  it('take every transition but those no event sequence can reach (parts of the shared compensation state this saga does not use)', () => {
    const taken = new Set(paths.flatMap((p) => p.transitions));
    const unreachable = unreachableTransitions(saga, paths);
    expect(sagaTransitions(saga).filter((t) => !taken.has(t.id)).map((t) => t.id)).toEqual(unreachable);
    // Named, so a transition that becomes unreachable by a change fails here.
    const expected: Record<string, string[]> = {
      TaskProcessing: ['TaskProcessing.compensating.next always#1'],
      CollaborationProcessManager: [
        'CollaborationProcessManager.compensating.next always#2',
        'CollaborationProcessManager.compensating.awaitingReply on xstate.after.compensationRetry.CollaborationProcessManager.compensating.awaitingReply#0',
        'CollaborationProcessManager.compensating.awaitingReply on xstate.after.compensationRetry.CollaborationProcessManager.compensating.awaitingReply#1',
        'CollaborationProcessManager.failed on sagaflow.resume#0',
      ],
    };
    expect(unreachable).toEqual(expected[saga.name]);
  });

  it('include compensation and timer paths', () => {
    expect(paths.some((p) => p.steps.some((s) => s.kind === 'timer'))).toBe(true);
    expect(paths.some((p) => JSON.stringify(p.state).includes('compensated'))).toBe(true);
  });
});
