import { describe, expect, it } from 'vitest';
import { MachineDriver } from '../../test/support/machine-driver.js';
import { CollaborationProcessManager } from './index.js';

const JOIN_TIMER = 'xstate.after.joinTimeout.CollaborationProcessManager.awaitingJoins';

function started(agentIds = ['a', 'b', 'c']): MachineDriver {
  return new MachineDriver(CollaborationProcessManager, 'c1').start({
    type: 'collaboration.requested',
    data: { collaborationId: 'c1', agentIds, strategy: 'debate', joinTimeoutMs: 120_000 },
  });
}
const joined = (agentId: string) => ({ type: 'agent.joined', data: { collaborationId: 'c1', agentId } });
const declined = (agentId: string) => ({ type: 'agent.declined', data: { collaborationId: 'c1', agentId, reason: 'busy' } });
const cancelled = (agentId: string) => ({
  type: 'invitation.cancelled',
  data: { collaborationId: 'c1', agentId, reason: 'collaboration called off' },
});

describe('CollaborationProcessManager machine (pure transitions)', () => {
  it('happy path: invites every agent, waits for all joins, announces the start', () => {
    const d = started();
    expect(d.value).toBe('awaitingJoins');
    expect(d.emitted).toEqual(['a', 'b', 'c'].map((agentId) => ({ type: 'agent.invited', data: { collaborationId: 'c1', agentId, strategy: 'debate' } })));
    expect(d.timers.get(JOIN_TIMER)?.dueAt).toBe(120_000);

    expect(d.send(joined('b'))).toBe(true);
    expect(d.send(joined('a'))).toBe(true);
    expect(d.value).toBe('awaitingJoins');
    expect(d.emitted).toEqual([]);
    expect(d.send(joined('c'))).toBe(true);
    expect(d.status).toBe('completed');
    expect(d.emitted).toEqual([{ type: 'collaboration.started', data: { collaborationId: 'c1', participants: ['b', 'a', 'c'], strategy: 'debate' } }]);
    expect(d.timerIds).toEqual([]);
  });

  it('duplicates and strangers: a second join of the same agent and a join of an uninvited agent are ignored', () => {
    const d = started();
    d.send(joined('a'));
    expect(d.send(joined('a'))).toBe(false);
    expect(d.send(joined('zed'))).toBe(false);
    expect(d.send(declined('zed'))).toBe(false);
    expect(d.context.joined).toEqual(['a']);
    d.send(joined('b'));
    d.send(joined('c'));
    expect(d.status).toBe('completed');
    // A reply after completion is not applied.
    expect(d.send(joined('a'))).toBe(false);
  });

  it('a decline cancels the invitations of joined and pending agents (newest first, not the decliner), then notifies', () => {
    const d = started();
    d.send(joined('a'));
    expect(d.send(declined('b'))).toBe(true);
    expect(d.status).toBe('compensated');
    expect(d.emittedTypes).toEqual(['invitation.cancelled', 'invitation.cancelled', 'notification.requested']);
    expect(d.emitted.slice(0, 2)).toEqual([cancelled('c'), cancelled('a')]);
    expect(d.emitted[2]).toMatchObject({
      type: 'notification.requested',
      data: { topic: 'collaboration.cancelled', severity: 'warning', message: 'collaboration c1 called off: agent b declined: busy' },
    });
    expect(d.timerIds).toEqual([]);
    expect(d.send(joined('c'))).toBe(false);
  });

  it('timeout path: the durable join timer cancels every invitation and notifies, naming the pending agents', () => {
    const d = started();
    d.send(joined('a'));
    expect(d.advance(119_999)).toEqual([]);
    const out = d.advance(1);
    expect(out).toEqual([cancelled('c'), cancelled('b'), cancelled('a'), expect.objectContaining({ type: 'notification.requested' })]);
    expect(d.status).toBe('compensated');
    expect(d.context.failureReason).toBe('join timeout of 120000 ms; still pending: b, c');
  });

  it('out of order: a join already counted still lets a later decline call the collaboration off', () => {
    const d = started(['a', 'b']);
    d.send(joined('a'));
    d.send(declined('a'));
    expect(d.status).toBe('compensated');
    // The decliner's own invitation is not cancelled; the pending one is.
    expect(d.emitted.filter((e) => e.type === 'invitation.cancelled')).toEqual([cancelled('b')]);
  });
});
