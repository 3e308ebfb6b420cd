import { describe, expect, it } from 'vitest';
import { MachineDriver } from '../../test/support/machine-driver.js';
import { TaskProcessing } from './index.js';
import { COMPENSATION_MAX_ATTEMPTS, COMPENSATION_RETRY_MS } from './machine.js';

const SLA_TIMER = 'xstate.after.slaTimeout.TaskProcessing.active';
const RETRY_TIMER = 'xstate.after.compensationRetry.TaskProcessing.compensating.awaitingReply';

function started(data: Record<string, unknown> = {}): MachineDriver {
  return new MachineDriver(TaskProcessing, 't1').start({
    type: 'task.created',
    data: { taskId: 't1', taskType: 'summarize', priority: 2, slaMs: 60_000, maxAttempts: 3, ...data },
  });
}
const assigned = (agentId = 'a1') => ({ type: 'agent.assigned', data: { taskId: 't1', agentId } });
const released = (agentId = 'a1') => ({ type: 'agent.released', data: { taskId: 't1', agentId } });
const releaseFailed = (agentId = 'a1') => ({ type: 'agent.release.failed', data: { taskId: 't1', agentId, error: 'agent service down' } });
const completed = { type: 'task.completed', data: { taskId: 't1', completedBy: 'a1', result: { ok: true } } };
const failed = { type: 'task.failed', data: { taskId: 't1', error: 'model crashed' } };

describe('TaskProcessing machine (pure transitions)', () => {
  it('happy path: requests an agent, awaits completion under an SLA timer, completes and cancels the timer', () => {
    const d = started();
    expect(d.value).toEqual({ active: 'awaitingAssignment' });
    expect(d.emitted).toEqual([{ type: 'agent.assignment.requested', data: { taskId: 't1', taskType: 'summarize', priority: 2, attempt: 1 } }]);
    expect(d.timers.get(SLA_TIMER)?.dueAt).toBe(60_000);

    expect(d.send(assigned())).toBe(true);
    expect(d.value).toEqual({ active: 'awaitingCompletion' });
    expect(d.context.agentId).toBe('a1');
    expect(d.timerIds).toEqual([SLA_TIMER]);

    expect(d.send(completed)).toBe(true);
    expect(d.value).toBe('completed');
    expect(d.status).toBe('completed');
    expect(d.timerIds).toEqual([]);
    expect(d.context.completedBy).toBe('a1');
  });

  it('failure path: releases the agent, awaits agent.released, then re-queues while attempts remain', () => {
    const d = started();
    d.send(assigned());
    d.send(failed);
    expect(d.value).toEqual({ compensating: 'awaitingReply' });
    expect(d.status).toBe('compensating');
    expect(d.emitted).toEqual([{ type: 'agent.release.requested', data: { taskId: 't1', agentId: 'a1', reason: 'task compensation' } }]);
    expect(d.timerIds).toEqual([RETRY_TIMER]);

    // A release confirmation for another agent is not the reply the saga waits for.
    expect(d.send(released('someone-else'))).toBe(false);
    expect(d.send(released())).toBe(true);
    expect(d.value).toBe('compensated');
    expect(d.status).toBe('compensated');
    expect(d.timerIds).toEqual([]);
    expect(d.emitted).toEqual([
      {
        type: 'task.requeued',
        data: { taskId: 't1', taskType: 'summarize', priority: 2, attempt: 2, maxAttempts: 3, reason: 'model crashed' },
      },
    ]);
  });

  it('failure on the last attempt notifies instead of re-queueing', () => {
    const d = started({ attempt: 3, maxAttempts: 3 });
    d.send(assigned());
    d.send(failed);
    d.send(released());
    expect(d.status).toBe('compensated');
    expect(d.emittedTypes).toEqual(['notification.requested']);
    expect(d.emitted[0]?.data).toMatchObject({ topic: 'task.abandoned', severity: 'warning', subject: { taskId: 't1' } });
  });

  it('timeout path: the durable SLA timer fires only when due and starts compensation', () => {
    const d = started();
    d.send(assigned());
    expect(d.advance(59_999)).toEqual([]);
    expect(d.value).toEqual({ active: 'awaitingCompletion' });
    const out = d.advance(1);
    expect(out.map((e) => e.type)).toEqual(['agent.release.requested']);
    expect(d.value).toEqual({ compensating: 'awaitingReply' });
    expect(d.context.failureReason).toBe('SLA of 60000 ms exceeded');
    d.send(released());
    expect(d.status).toBe('compensated');
    expect(d.emittedTypes).toEqual(['task.requeued']);
  });

  it('timeout before any agent was assigned has nothing to release: re-queues at once', () => {
    const d = started();
    expect(d.advance(60_000).map((e) => e.type)).toEqual(['task.requeued']);
    expect(d.status).toBe('compensated');
    // A reply that arrives after the saga finished is not applied.
    expect(d.send(assigned())).toBe(false);
  });

  it('retries a release that fails or goes unanswered, then ends failed and notifies an operator', () => {
    const d = started();
    d.send(assigned());
    d.send(failed);
    expect(d.send(releaseFailed())).toBe(true);
    expect(d.emittedTypes).toEqual(['agent.release.requested']);
    expect(d.context.compensation).toMatchObject({ attempt: 1 });
    // No reply within the retry delay counts as a failed try and sends the command again.
    expect(d.advance(COMPENSATION_RETRY_MS).map((e) => e.type)).toEqual(['agent.release.requested']);
    expect(d.context.compensation).toMatchObject({ attempt: 2 });
    expect(COMPENSATION_MAX_ATTEMPTS).toBe(3);
    d.send(releaseFailed());
    expect(d.value).toBe('failed');
    expect(d.status).toBe('failed');
    expect(d.emitted).toHaveLength(1);
    expect(d.emitted[0]).toMatchObject({ type: 'notification.requested', data: { topic: 'task.compensation-failed', severity: 'error' } });
    expect(d.timerIds).toEqual([]);
  });

  it('duplicates: the same assignment twice is ignored; a second agent is released at once', () => {
    const d = started();
    d.send(assigned('a1'));
    expect(d.send(assigned('a1'))).toBe(false);
    expect(d.emitted).toEqual([]);
    expect(d.send(assigned('a2'))).toBe(true);
    expect(d.emitted).toEqual([
      { type: 'agent.release.requested', data: { taskId: 't1', agentId: 'a2', reason: 'task already has an agent or is being compensated' } },
    ]);
    expect(d.context.agentId).toBe('a1');
    // A duplicate start event is not accepted once the task is active.
    expect(d.send({ type: 'task.created', data: { taskId: 't1', taskType: 'summarize' } })).toBe(false);
    d.send(completed);
    expect(d.send(completed)).toBe(false);
    expect(d.status).toBe('completed');
  });

  it('out of order: task.completed before agent.assigned completes; the late assignment is ignored', () => {
    const d = started();
    expect(d.send(completed)).toBe(true);
    expect(d.status).toBe('completed');
    expect(d.context.agentId).toBe('a1');
    expect(d.send(assigned('a1'))).toBe(false);
  });

  it('out of order: an assignment arriving during compensation is released too, without disturbing the pending reply', () => {
    const d = started();
    d.send(assigned('a1'));
    d.send(failed);
    expect(d.send(assigned('a2'))).toBe(true);
    expect(d.emitted).toEqual([
      { type: 'agent.release.requested', data: { taskId: 't1', agentId: 'a2', reason: 'task already has an agent or is being compensated' } },
    ]);
    expect(d.value).toEqual({ compensating: 'awaitingReply' });
    d.send(released('a1'));
    expect(d.status).toBe('compensated');
  });

  it('keeps context JSON-native (round-trips through JSON unchanged)', () => {
    const d = started();
    d.send(assigned());
    d.send(failed);
    expect(JSON.parse(JSON.stringify(d.context))).toEqual(d.context);
  });
});
