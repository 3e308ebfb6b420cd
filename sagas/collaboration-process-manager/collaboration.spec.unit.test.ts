import { describe, expect, it } from 'vitest';
import { sagaSpec } from 'sagaflow/testing';
import { CollaborationProcessManager } from './index.js';

const JOIN_TIMER = 'xstate.after.joinTimeout.CollaborationProcessManager.awaitingJoins';
const requested = { type: 'collaboration.requested', data: { collaborationId: 'c1', agentIds: ['a', 'b', 'c'], joinTimeoutMs: 60_000 } };
const joined = (agentId: string) => ({ type: 'agent.joined', data: { collaborationId: 'c1', agentId } });
const declined = (agentId: string) => ({ type: 'agent.declined', data: { collaborationId: 'c1', agentId } });


describe('CollaborationProcessManager through the saga test kit', () => {
  it('happy path: invites all agents, starts when the last one joins', async () => {
    const spec = sagaSpec(CollaborationProcessManager);
    await spec.when(requested);
    spec.thenExpect({ state: 'awaitingJoins', status: 'running', emitted: ['agent.invited', 'agent.invited', 'agent.invited'], timers: [JOIN_TIMER] });
    expect(spec.emitted().map((e) => e.data.agentId)).toEqual(['a', 'b', 'c']);
    await spec.given(joined('a'), joined('b'));
    spec.thenExpect({ status: 'running', context: { joined: ['a', 'b'] } });
    await spec.when(joined('c'));
    spec.thenExpect({ state: 'completed', status: 'completed', emitted: ['collaboration.started'], timers: [] });
    expect(spec.emitted()[0]?.data).toEqual({ collaborationId: 'c1', participants: ['a', 'b', 'c'], strategy: 'round-robin' });
  });

  it('failure path: a decline cancels the other invitations and notifies', async () => {
    const spec = sagaSpec(CollaborationProcessManager);
    await spec.given(requested, joined('a'));
    await spec.when(declined('c'));
    spec.thenExpect({ state: 'compensated', status: 'compensated', emitted: ['invitation.cancelled', 'invitation.cancelled', 'notification.requested'], timers: [] });
    expect(spec.emitted().slice(0, 2).map((e) => e.data.agentId)).toEqual(['b', 'a']);
  });

  it('timeout path: the join timer fires at its due time and calls the collaboration off', async () => {
    const spec = sagaSpec(CollaborationProcessManager);
    await spec.given(requested, joined('b'));
    expect(await spec.advanceTime(59_999)).toEqual([]);
    await spec.advanceTime(1);
    spec.thenExpect({ status: 'compensated', emitted: ['invitation.cancelled', 'invitation.cancelled', 'invitation.cancelled', 'notification.requested'] });
    expect(spec.emitted().slice(0, 3).map((e) => e.data.agentId)).toEqual(['c', 'b', 'a']);
  });

  it('duplicates: the same join delivered twice is applied once; a second join of the agent is ignored', async () => {
    const spec = sagaSpec(CollaborationProcessManager);
    await spec.when(requested);
    const join = spec.event('agent.joined', { collaborationId: 'c1', agentId: 'a' });
    expect((await spec.when(join))[0]?.result).toBe('applied');
    expect((await spec.when(join))[0]?.result).toBe('duplicate');
    expect((await spec.when(joined('a')))[0]?.result).toBe('ignored');
    spec.thenExpect({ context: { joined: ['a'] }, status: 'running' });
  });

  it('out of order: a join before the request is dead-lettered; a join after the end is recorded and ignored', async () => {
    const spec = sagaSpec(CollaborationProcessManager);
    expect((await spec.when(joined('a')))[0]?.result).toBe('dead-lettered');
    await spec.given(requested, declined('b'));
    expect((await spec.when(joined('a')))[0]?.result).toBe('after-completion');
    spec.thenExpect({ status: 'compensated' });
  });
});
