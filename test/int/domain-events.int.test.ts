import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, ApiRequestError } from '../../src/api/client.js';
import { ConcurrencyError, ConfigError } from '../../src/core/errors.js';
import type { EventEnvelope } from '../../src/core/events/envelope.js';
import { aggregatesOf, loadSagaModule } from '../../src/daemon/load-sagas.js';
import { defineAggregate } from '../../src/core/sourcing/aggregate.js';
import { Agent, Context, exampleAggregates, exampleSagas } from '../../sagas/index.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon, type TestDaemon } from '../support/test-daemon.js';

/** The design notes' eight domain events: a valid `data`, and a malformed one with the field its 400 must name. */
const designNotesEvents: Array<{ type: string; data: Record<string, unknown>; bad: Record<string, unknown>; field: string }> = [
  { type: 'context.created', data: { contextId: 'c1', agentId: 'a1', name: 'Release 1.4', createdBy: 'u1' }, bad: { contextId: 'c1', agentId: 'a1', createdBy: 'u1' }, field: 'data.name' },
  { type: 'context.updated', data: { contextId: 'c1', changes: { description: 'x' }, updatedBy: 'u1' }, bad: { contextId: 'c1', changes: { colour: 'red' }, updatedBy: 'u1' }, field: 'data.changes' },
  { type: 'agent.registered', data: { agentId: 'a1', model: 'gpt', capabilities: ['code'], version: '1.0' }, bad: { agentId: 'a1', model: 'gpt', capabilities: 'code' }, field: 'data.capabilities' },
  { type: 'agent.disconnected', data: { agentId: 'a1', reason: 'timeout', lastSeen: '2026-12-04T12:00:00.000Z' }, bad: { agentId: 'a1', lastSeen: 'yesterday' }, field: 'data.lastSeen' },
  { type: 'task.created', data: { taskId: 't1', taskType: 'summarize', priority: 2 }, bad: { taskId: 't1', taskType: 'summarize', priority: 'high' }, field: 'data.priority' },
  { type: 'task.completed', data: { taskId: 't1', completedBy: 'a1', durationMs: 1200, result: { ok: true } }, bad: { taskId: 't1' }, field: 'data.completedBy' },
  { type: 'collaboration.started', data: { collaborationId: 's1', participants: ['a1', 'a2'], strategy: 'debate' }, bad: { collaborationId: 's1', participants: [1], strategy: 'debate' }, field: 'data.participants.0' },
  { type: 'collaboration.message', data: { collaborationId: 's1', fromAgent: 'a1', toAgent: 'a2', messageType: 'proposal', content: 'hi' }, bad: { collaborationId: 's1', fromAgent: 'a1', toAgent: 'a2' }, field: 'data.messageType' },
];

describe('the bundled sagas module', () => {
  it('exports the example aggregates, which the daemon loads like sagas and handlers', async () => {
    const loaded = await loadSagaModule(undefined);
    expect(loaded.aggregates.map((a) => a.type).sort()).toEqual(['agent', 'collaboration', 'context']);
  });

  it('takes each aggregate once, and refuses two definitions of one type', () => {
    expect(aggregatesOf({ a: Context, b: [Context, Agent] })).toEqual([Context, Agent]);
    const other = defineAggregate({ ...Context, initialState: Context.initialState(), commands: {} });
    expect(() => aggregatesOf({ Context, other })).toThrow(ConfigError);
    expect(() => aggregatesOf({ Context, other })).toThrow('two aggregates are named "context"');
  });
});

describe.runIf(hasPostgres())('design-notes domain events through the daemon (Postgres)', () => {
  let t: TestDaemon;
  let client: ApiClient;
  beforeAll(async () => {
    t = await openTestDaemon('postgres', { name: 'domain_events', sagas: exampleSagas, aggregates: exampleAggregates, flags: { 'store.snapshotFrequency': 3 } });
    client = new ApiClient({ url: t.daemon.url, token: t.token, reason: 'test' });
  });
  afterAll(async () => t?.dispose());

  it('publishes every design-notes domain event over the HTTP API, validated (defaults applied) and stored', async () => {
    for (const e of designNotesEvents) {
      const streamId = `dn-${crypto.randomUUID()}`;
      const res = await client.publish({ type: e.type, streamId, data: e.data });
      expect(res).toMatchObject({ type: e.type, streamId });
      const [stored] = await t.daemon.engine.store.readStream(streamId);
      expect(stored).toMatchObject({ type: e.type, data: e.data });
    }
    const [created] = await t.daemon.engine.store.query({ types: ['context.created'], limit: 1 });
    expect(created!.data).toMatchObject({ description: '' }); // the schema's default
  });

  it('rejects a malformed one of each with a 400 naming the field, and stores nothing', async () => {
    for (const e of designNotesEvents) {
      const streamId = `bad-${crypto.randomUUID()}`;
      const err = await client.publish({ type: e.type, streamId, data: e.bad }).catch((x: unknown) => x);
      expect(err, e.type).toBeInstanceOf(ApiRequestError);
      expect((err as ApiRequestError).status).toBe(400);
      expect((err as ApiRequestError).code).toBe('VALIDATION');
      expect((err as ApiRequestError).message, e.type).toContain(`at ${e.field}:`);
      expect(await t.daemon.engine.store.streamVersion(streamId)).toBe(0);
    }
  });

  it('still rejects a type nobody declares (the registry is strict)', async () => {
    await expect(client.publish({ type: 'context.archived', data: {} })).rejects.toMatchObject({ status: 400, code: 'UNKNOWN_EVENT_TYPE' });
  });

  it('engine.aggregates(): saved events take the one flow to the bus; snapshots follow store.snapshotFrequency; a stale save conflicts', async () => {
    const seen: EventEnvelope[] = [];
    const sub = await t.daemon.engine.bus!.subscribe('context.*', (e) => void seen.push(e), { group: `test-${crypto.randomUUID()}` });
    const contexts = t.daemon.engine.aggregates(Context);
    const id = crypto.randomUUID();
    const ctx = await contexts.load(id);
    ctx.execute('create', { name: 'n0', agentId: 'a1', createdBy: 'u1' });
    ctx.execute('update', { name: 'n1', updatedBy: 'u1' });
    expect(await contexts.save(ctx)).toMatchObject({ version: 2, snapshot: false });
    ctx.execute('update', { description: 'd', updatedBy: 'u1' });
    expect(await contexts.save(ctx)).toMatchObject({ version: 3, snapshot: true }); // store.snapshotFrequency = 3
    const ids = (await t.daemon.engine.store.readStream(Context.streamId(id))).map((e) => e.id);
    expect(ids).toHaveLength(3);
    await expect.poll(() => seen.filter((e) => e.streamId === Context.streamId(id)).map((e) => e.id), { timeout: 10_000 }).toEqual(ids);
    await sub.unsubscribe();

    const stale = await contexts.load(id);
    const fresh = await contexts.load(id);
    fresh.execute('update', { name: 'fresh', updatedBy: 'u2' });
    await contexts.save(fresh);
    stale.execute('update', { name: 'stale', updatedBy: 'u3' });
    await expect(contexts.save(stale)).rejects.toBeInstanceOf(ConcurrencyError);

    const agents = t.daemon.engine.aggregates(Agent);
    const agent = await agents.load('a1');
    agent.execute('register', { model: 'gpt' });
    await agents.save(agent);
    expect((await agents.load('a1')).state.status).toBe('online');
  });
});
