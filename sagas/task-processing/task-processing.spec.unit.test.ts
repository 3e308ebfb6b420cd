import { describe, expect, it } from 'vitest';
import { sagaSpec } from 'sagaflow/testing';
import { COMPENSATION_RETRY_MS, TaskProcessing } from './index.js';

const SLA_TIMER = 'xstate.after.slaTimeout.TaskProcessing.active';
const RETRY_TIMER = 'xstate.after.compensationRetry.TaskProcessing.compensating.awaitingReply';
const SLA = 60_000;

const created = { type: 'task.created', data: { taskId: 't1', taskType: 'summarize', slaMs: SLA } };
const assigned = (agentId = 'a1') => ({ type: 'agent.assigned', data: { taskId: 't1', agentId } });
const completed = { type: 'task.completed', data: { taskId: 't1', completedBy: 'a1' } };
const failed = { type: 'task.failed', data: { taskId: 't1', error: 'model crashed' } };
const released = (agentId = 'a1') => ({ type: 'agent.released', data: { taskId: 't1', agentId } });


describe('TaskProcessing through the saga test kit', () => {
  it('happy path: assignment requested, SLA timer scheduled, completion cancels the timer', async () => {
    const spec = sagaSpec(TaskProcessing);
    const [start] = await spec.when(created);
    expect(start?.result).toBe('created');
    spec.thenExpect({ state: { active: 'awaitingAssignment' }, status: 'running', emitted: ['agent.assignment.requested'], timers: [SLA_TIMER] });
    const request = spec.emitted()[0];
    expect(request?.data).toEqual({ taskId: 't1', taskType: 'summarize', priority: 0, attempt: 1 });
    expect(request?.metadata).toMatchObject({ causationId: start?.eventId, saga: 'TaskProcessing', sagaKey: 't1' });

    await spec.when(assigned());
    spec.thenExpect({ state: { active: 'awaitingCompletion' }, emitted: [], context: { agentId: 'a1' }, timers: [SLA_TIMER] });
    await spec.when(completed);
    spec.thenExpect({ state: 'completed', status: 'completed', emitted: [], timers: [] });
  });

  it('failure path: releases the agent, awaits agent.released, re-queues', async () => {
    const spec = sagaSpec(TaskProcessing);
    await spec.given(created, assigned());
    await spec.when(failed);
    spec.thenExpect({ state: { compensating: 'awaitingReply' }, status: 'compensating', emitted: ['agent.release.requested'], timers: [RETRY_TIMER] });
    await spec.when(released());
    spec.thenExpect({ state: 'compensated', status: 'compensated', emitted: ['task.requeued'], timers: [] });
    expect(spec.emitted()[0]?.data).toMatchObject({ taskId: 't1', attempt: 2, reason: 'model crashed' });
  });

  it('timeout path: advancing the fake clock past the SLA fires the durable timer once', async () => {
    const spec = sagaSpec(TaskProcessing);
    await spec.given(created, assigned());
    expect(await spec.advanceTime(SLA - 1)).toEqual([]);
    spec.thenExpect({ status: 'running' });
    const fired = await spec.advanceTime(1);
    expect(fired.map((o) => o.result)).toEqual(['applied']);
    spec.thenExpect({ status: 'compensating', emitted: ['agent.release.requested'], timers: [RETRY_TIMER], context: { failureReason: `SLA of ${SLA} ms exceeded` } });
    // Nobody answers: two more tries, 30 s apart; when the third goes unanswered too, failed with a notification.
    await spec.advanceTime(COMPENSATION_RETRY_MS * 2);
    spec.thenExpect({ status: 'compensating', emitted: ['agent.release.requested', 'agent.release.requested'] });
    await spec.advanceTime(COMPENSATION_RETRY_MS);
    spec.thenExpect({ state: 'failed', status: 'failed', emitted: ['notification.requested'], timers: [] });
    const all = spec.allEmitted().map((e) => e.type);
    expect(all.filter((t) => t === 'agent.release.requested')).toHaveLength(3);
  });

  it('duplicates: a redelivered event is applied once; a second copy of a reply is ignored', async () => {
    const spec = sagaSpec(TaskProcessing);
    await spec.when(created);
    const assignment = spec.event('agent.assigned', { taskId: 't1', agentId: 'a1' });
    expect((await spec.when(assignment))[0]?.result).toBe('applied');
    expect((await spec.when(assignment))[0]?.result).toBe('duplicate');
    expect((await spec.when(assigned('a1')))[0]?.result).toBe('ignored');
    spec.thenExpect({ state: { active: 'awaitingCompletion' }, emitted: [] });
    const applied = spec.history().filter((h) => h.kind === 'applied');
    expect(applied.map((h) => h.eventType)).toEqual(['task.created', 'agent.assigned']);
  });

  it('out of order: completion before assignment completes; the late assignment is recorded after completion', async () => {
    const spec = sagaSpec(TaskProcessing);
    await spec.given(created, completed);
    spec.thenExpect({ status: 'completed', context: { agentId: 'a1', completedBy: 'a1' } });
    expect((await spec.when(assigned()))[0]?.result).toBe('after-completion');
    spec.thenExpect({ status: 'completed', emitted: [] });
  });

  it('a reply for a task that has no saga is dead-lettered; bad data is dead-lettered with the field named', async () => {
    const spec = sagaSpec(TaskProcessing);
    expect((await spec.when(assigned()))[0]?.result).toBe('dead-lettered');
    const bad = await spec.when({ type: 'task.created', data: { taskId: 't2', priority: 'high' } });
    expect(bad[0]?.result).toBe('dead-lettered');
    expect(bad[0]?.error?.message).toMatch(/taskType|priority/);
    expect(spec.deadLetters()).toHaveLength(2);
  });
});
