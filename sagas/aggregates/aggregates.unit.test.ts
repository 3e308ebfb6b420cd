import { describe, expect, it } from 'vitest';
import { Aggregate, AggregateRepository, ConcurrencyError, InvariantViolationError, MemoryEventStore, NotFoundError, ValidationError } from 'sagaflow';
import { Agent, Collaboration, Context } from './index.js';

const clock = (iso = '2026-12-04T12:00:00.000Z') => ({ now: () => new Date(iso) });

describe('Context aggregate', () => {
  it('given nothing, when created, then context.created and an active context', () => {
    const ctx = new Aggregate(Context, 'c1', undefined, { clock: clock() });
    const [created] = ctx.execute('create', { name: 'Release 1.4', agentId: 'a1', createdBy: 'u1' });
    expect(created).toMatchObject({
      type: 'context.created', streamId: 'context-c1', aggregateType: 'context',
      data: { contextId: 'c1', name: 'Release 1.4', description: '', agentId: 'a1', createdBy: 'u1' },
    });
    expect(ctx.state).toMatchObject({ status: 'active', name: 'Release 1.4', createdAt: '2026-12-04T12:00:00.000Z' });
    expect(ctx.pending).toHaveLength(1);
  });

  it('given a context, when updated, then only the changed fields are in context.updated; no change, no event', () => {
    const ctx = new Aggregate(Context, 'c1', undefined, { clock: clock() });
    ctx.execute('create', { name: 'n', description: 'd', agentId: 'a1', createdBy: 'u1' });
    const [updated] = ctx.execute('update', { name: 'n2', description: 'd', updatedBy: 'u2' });
    expect(updated!.data).toEqual({ contextId: 'c1', changes: { name: 'n2' }, updatedBy: 'u2' });
    expect(ctx.execute('update', { name: 'n2', updatedBy: 'u2' })).toEqual([]);
    expect(ctx.state).toMatchObject({ name: 'n2', description: 'd' });
  });

  it('refuses: create twice (InvariantViolationError), update of a missing context (NotFoundError), an empty update', () => {
    const missing = new Aggregate(Context, 'c9');
    expect(() => missing.execute('update', { name: 'x', updatedBy: 'u' })).toThrow(NotFoundError);
    const ctx = new Aggregate(Context, 'c1');
    ctx.execute('create', { name: 'n', agentId: 'a1', createdBy: 'u1' });
    let err: unknown;
    try {
      ctx.execute('create', { name: 'n', agentId: 'a1', createdBy: 'u1' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvariantViolationError);
    expect(err).toMatchObject({ code: 'INVALID_STATE', message: 'context "c1": already exists: create it once, then update it' });
    expect(() => ctx.execute('update', { updatedBy: 'u' })).toThrow(ValidationError);
    expect(ctx.pending).toHaveLength(1); // refused commands decided nothing
  });

  it('validates decided events against their schema, naming the field', () => {
    const ctx = new Aggregate(Context, 'c1');
    expect(() => ctx.execute('create', { name: '', agentId: 'a1', createdBy: 'u1' })).toThrow(/at data\.name: /);
    expect(ctx.state.status).toBe('none');
  });
});

describe('Agent aggregate', () => {
  it('registers, disconnects, registers again; refuses a double registration and a double disconnect', () => {
    const agent = new Aggregate(Agent, 'a1', undefined, { clock: clock() });
    expect(() => agent.execute('disconnect', {})).toThrow(NotFoundError);
    agent.execute('register', { model: 'gpt', capabilities: ['code'] });
    expect(() => agent.execute('register', { model: 'gpt' })).toThrow(InvariantViolationError);
    agent.execute('disconnect', { reason: 'timeout', lastSeen: '2026-12-04T11:59:00.000Z' });
    expect(() => agent.execute('disconnect', {})).toThrow(InvariantViolationError);
    expect(agent.state).toMatchObject({ status: 'offline', disconnectReason: 'timeout', registrations: 1 });
    agent.execute('register', { model: 'gpt-2' });
    expect(agent.state).toMatchObject({ status: 'online', model: 'gpt-2', capabilities: [], registrations: 2, disconnectReason: null });
    expect(agent.pending.map((e) => e.type)).toEqual(['agent.registered', 'agent.disconnected', 'agent.registered']);
  });
});

describe('Collaboration aggregate', () => {
  it('starts once; carries messages between participants only', () => {
    const session = new Aggregate(Collaboration, 's1');
    expect(() => session.execute('post', { fromAgent: 'a', toAgent: 'b', messageType: 'hi' })).toThrow(NotFoundError);
    session.execute('start', { participants: ['a', 'b'], strategy: 'debate' });
    expect(() => session.execute('start', { participants: ['a'], strategy: 'x' })).toThrow(InvariantViolationError);
    session.execute('post', { fromAgent: 'a', toAgent: 'b', messageType: 'proposal', content: { text: 'x' } });
    expect(() => session.execute('post', { fromAgent: 'a', toAgent: 'z', messageType: 'hi' })).toThrow(/agent "z" is not a participant/);
    expect(session.state).toMatchObject({ status: 'started', participants: ['a', 'b'], messages: 1 });
  });
});

describe('with the repository (memory store)', () => {
  it('saves, loads back, and refuses a stale save with a ConcurrencyError', async () => {
    const contexts = new AggregateRepository(new MemoryEventStore(), Context);
    const ctx = await contexts.load('c1');
    ctx.execute('create', { name: 'n', agentId: 'a1', createdBy: 'u1' });
    await contexts.save(ctx);
    const [a, b] = [await contexts.load('c1'), await contexts.load('c1')];
    a.execute('update', { name: 'from a', updatedBy: 'ua' });
    b.execute('update', { name: 'from b', updatedBy: 'ub' });
    await contexts.save(a);
    await expect(contexts.save(b)).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await contexts.load('c1')).state.name).toBe('from a');
  });
});
