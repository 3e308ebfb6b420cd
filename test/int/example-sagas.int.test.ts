import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import type { SagaStatus } from '../../src/core/ports/saga-store.js';
import { createDurableBus, type DurableEventBus } from '../../src/core/bus/durable-bus.js';
import { createMemoryBus } from '../../src/memory/event-bus.js';
import { PostgresEventStore } from '../../src/postgres/event-store.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { CollaborationProcessManager, TaskProcessing } from '../../sagas/index.js';
import { pgliteTestDb, pgTestDb, type TestDb } from '../support/postgres.js';
import { hasPostgres } from '../support/services.js';

/**
 * The example sagas running durably, composed as a library user would: a durable bus (publish appends to
 * the event log, the relay carries the log to an in-memory transport), the runtime subscribed to it, the
 * commands the steps emit entering the log in their transactions, and a simulated "world" answering them
 * — on PGlite and real Postgres.
 */
function exampleSagasDurably(name: string, open: () => Promise<TestDb>): void {
  describe(`example sagas, durably on ${name}`, () => {
    let t: TestDb;
    let bus: DurableEventBus;
    let runtime: SagaRuntime;
    let repository: PostgresSagaRepository;
    const clock = new FakeClock('2026-01-01T00:00:00.000Z');
    const seen: EventEnvelope[] = [];
    const declining = new Set<string>();
    const failing = new Set<string>();
    const silent = new Set<string>();

    const publish = (type: string, streamId: string, data: Record<string, unknown>) =>
      bus.publish(createEvent({ type, streamId, data }, clock.now()));

    beforeAll(async () => {
      t = await open();
      const store = new PostgresEventStore(t.db, { schema: t.schema });
      repository = new PostgresSagaRepository(t.db, { schema: t.schema, store });
      bus = createDurableBus({ store, transport: createMemoryBus(), pollIntervalMs: 200 });
      runtime = new SagaRuntime({
        repository, sagas: [TaskProcessing, CollaborationProcessManager], bus, clock, timers: false, onEmitted: () => bus.relay.poke(),
      });
      // The world: agents and workers that answer the sagas' commands.
      await bus.subscribe('*', async (e) => {
        seen.push(e);
        const d = e.data as Record<string, string>;
        if (e.type === 'agent.assignment.requested' && !silent.has(d.taskId!)) {
          await publish('agent.assigned', d.taskId!, { taskId: d.taskId, agentId: 'agent-1' });
          if (failing.has(d.taskId!)) await publish('task.failed', d.taskId!, { taskId: d.taskId, error: 'worker crashed' });
          else await publish('task.completed', d.taskId!, { taskId: d.taskId, completedBy: 'agent-1' });
        }
        if (e.type === 'agent.release.requested') await publish('agent.released', d.taskId!, { taskId: d.taskId, agentId: d.agentId });
        if (e.type === 'agent.invited') {
          if (declining.has(d.agentId!)) await publish('agent.declined', d.collaborationId!, { collaborationId: d.collaborationId, agentId: d.agentId, reason: 'busy' });
          else await publish('agent.joined', d.collaborationId!, { collaborationId: d.collaborationId, agentId: d.agentId });
        }
      }, { group: 'world' });
      await bus.start();
      await runtime.start();
    });
    afterAll(async () => {
      await runtime.stop();
      await bus.stop({ drainTimeoutMs: 1000 });
      await t.dispose();
    });

    async function waitForStatus(saga: string, key: string, status: SagaStatus): Promise<void> {
      const deadline = Date.now() + 15_000;
      for (;;) {
        const inst = await repository.get(saga, key);
        if (inst?.status === status) return;
        if (Date.now() > deadline) throw new Error(`${saga} ${key} is ${inst?.status ?? 'missing'} (state ${JSON.stringify(inst?.state)}), expected ${status}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const emittedFor = (key: string) => seen.filter((e) => e.metadata.sagaKey === key).map((e) => e.type);
    /** The emitted events are in the log; wait until the relay carried them to the world. */
    async function waitForDelivered(saga: string, key: string): Promise<void> {
      const emitted = (await repository.emitted(saga, key)).map((e) => e.id);
      const deadline = Date.now() + 15_000;
      while (!emitted.every((id) => seen.some((e) => e.id === id))) {
        if (Date.now() > deadline) throw new Error(`${saga} ${key}: emitted events not delivered`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    it('TaskProcessing: created → assigned → completed', async () => {
      const taskId = `t-${crypto.randomUUID()}`;
      await publish('task.created', taskId, { taskId, taskType: 'summarize' });
      await waitForStatus('TaskProcessing', taskId, 'completed');
      expect(emittedFor(taskId)).toEqual(['agent.assignment.requested']);
      expect(await repository.timers('TaskProcessing', taskId)).toEqual([]);
      await waitForDelivered('TaskProcessing', taskId);
    });

    it('TaskProcessing: a failure releases the agent and re-queues the task', async () => {
      const taskId = `t-${crypto.randomUUID()}`;
      failing.add(taskId);
      await publish('task.created', taskId, { taskId, taskType: 'summarize' });
      await waitForStatus('TaskProcessing', taskId, 'compensated');
      await waitForDelivered('TaskProcessing', taskId);
      expect(emittedFor(taskId)).toEqual(['agent.assignment.requested', 'agent.release.requested', 'task.requeued']);
    });

    it('TaskProcessing: the durable SLA timer fires and compensates', async () => {
      const taskId = `t-${crypto.randomUUID()}`;
      silent.add(taskId);
      await publish('task.created', taskId, { taskId, taskType: 'summarize', slaMs: 60_000 });
      await waitForStatus('TaskProcessing', taskId, 'running');
      expect((await repository.timers('TaskProcessing', taskId)).map((x) => x.id)).toEqual(['xstate.after.slaTimeout.TaskProcessing.active']);
      clock.advance(60_001);
      expect(await runtime.fireDueTimers()).toBeGreaterThanOrEqual(1);
      await waitForStatus('TaskProcessing', taskId, 'compensated');
      await waitForDelivered('TaskProcessing', taskId);
      expect(emittedFor(taskId)).toContain('task.requeued');
    });

    it('CollaborationProcessManager: every agent joins → collaboration.started', async () => {
      const collaborationId = `c-${crypto.randomUUID()}`;
      await publish('collaboration.requested', collaborationId, { collaborationId, agentIds: ['a1', 'a2', 'a3'], topic: 'plan' });
      await waitForStatus('CollaborationProcessManager', collaborationId, 'completed');
      await waitForDelivered('CollaborationProcessManager', collaborationId);
      const out = emittedFor(collaborationId);
      expect(out.filter((x) => x === 'agent.invited')).toHaveLength(3);
      expect(out).toContain('collaboration.started');
    });

    it('CollaborationProcessManager: a decline cancels the invitations and notifies', async () => {
      const collaborationId = `c-${crypto.randomUUID()}`;
      declining.add('a-declines');
      await publish('collaboration.requested', collaborationId, { collaborationId, agentIds: ['b1', 'a-declines'], topic: 'plan' });
      await waitForStatus('CollaborationProcessManager', collaborationId, 'compensated');
      await waitForDelivered('CollaborationProcessManager', collaborationId);
      const out = emittedFor(collaborationId);
      expect(out).toContain('invitation.cancelled');
      expect(out).toContain('notification.requested');
      expect(out).not.toContain('collaboration.started');
    });
  });
}

exampleSagasDurably('PGlite', pgliteTestDb);
describe.runIf(hasPostgres())('real Postgres', () => exampleSagasDurably('Postgres', () => pgTestDb()));
