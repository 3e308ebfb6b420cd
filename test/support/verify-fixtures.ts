/**
 * The golden histories of the example sagas (`test/fixtures/verify/*.v1.jsonl`): each scenario runs on the real
 * runtime over PGlite (events appended to the log first, as the daemon's reader sees them; timers fired by the
 * runtime at their due time on a fake clock), then the database is exported with `exportSagaInstances`, as
 * `sagaflow sagas export` does. `test/support/make-verify-fixtures.ts` writes the files; the golden tests replay them.
 */
import { createEvent, type EventEnvelope } from '../../src/core/events/envelope.js';
import type { SagaDefinition } from '../../src/core/saga/define-saga.js';
import { PostgresSagaRepository } from '../../src/postgres/saga-repository.js';
import { exportSagaInstances } from '../../src/postgres/saga-export.js';
import { exportHeader, type ExportedInstance } from '../../src/app/saga-export-format.js';
import { SagaRuntime } from '../../src/runtime/saga-runtime.js';
import { FakeClock } from '../../src/testing/fake-clock.js';
import { CollaborationProcessManager, TaskProcessing } from '../../sagas/index.js';
import { pgliteTestDb } from './postgres.js';

/** Drives one saga on a real runtime over PGlite. */
export class Driver {
  private seq = 0;
  constructor(
    readonly clock: FakeClock,
    private readonly runtime: SagaRuntime,
    private readonly repository: PostgresSagaRepository,
  ) {}

  /** Appends the event to the log, then applies it (the daemon's path: log first, then the saga reader). */
  async send(type: string, data: Record<string, unknown>): Promise<void> {
    this.clock.advance(1_000);
    const id = `00000000-0000-4000-8000-${String(++this.seq).padStart(12, '0')}`;
    const e: EventEnvelope = createEvent({ id, type, data, streamId: `fixture-${type.split('.')[0]}-${String(data.taskId ?? data.collaborationId)}` }, this.clock.now());
    await this.repository.store.append(e.streamId, [e]);
    await this.runtime.handle(e);
  }

  /** Moves the clock by `ms`, firing due timers at their due time. */
  async advance(ms: number): Promise<void> {
    const target = this.clock.now().getTime() + ms;
    for (;;) {
      const [next] = await this.repository.dueTimers(new Date(target), 1);
      if (!next) break;
      if (new Date(next.dueAt).getTime() > this.clock.now().getTime()) this.clock.set(next.dueAt);
      await this.runtime.fireTimer(next);
    }
    this.clock.set(target);
  }
}

type Scenario = (d: Driver) => Promise<void>;

const task = (id: string, extra: Record<string, unknown> = {}) => ({ taskId: id, taskType: 'review', priority: 1, slaMs: 600_000, maxAttempts: 2, ...extra });

/** TaskProcessing: every path of its statechart that a history can take. */
export const taskScenarios: Record<string, Scenario> = {
  async completed(d) {
    await d.send('task.created', task('t-completed'));
    await d.send('agent.assigned', { taskId: 't-completed', agentId: 'a1' });
    await d.send('task.completed', { taskId: 't-completed', completedBy: 'a1' });
  },
  async completedBeforeAssignment(d) {
    await d.send('task.created', task('t-early'));
    await d.send('task.completed', { taskId: 't-early', completedBy: 'a2' });
    await d.send('agent.assigned', { taskId: 't-early', agentId: 'a2' });
  },
  async failedRequeued(d) {
    await d.send('task.created', task('t-failed'));
    await d.send('agent.assigned', { taskId: 't-failed', agentId: 'a1' });
    await d.send('agent.assigned', { taskId: 't-failed', agentId: 'a9' });
    await d.send('task.failed', { taskId: 't-failed', error: 'boom' });
    await d.send('agent.released', { taskId: 't-failed', agentId: 'a1' });
  },
  async slaGaveUp(d) {
    await d.send('task.created', task('t-sla', { attempt: 2 }));
    await d.send('agent.assigned', { taskId: 't-sla', agentId: 'a3' });
    await d.advance(600_000);
    await d.send('agent.released', { taskId: 't-sla', agentId: 'a3' });
  },
  async compensationFailed(d) {
    await d.send('task.created', task('t-stuck'));
    await d.send('agent.assigned', { taskId: 't-stuck', agentId: 'a4' });
    await d.send('task.failed', { taskId: 't-stuck', error: 'crashed' });
    await d.send('agent.release.failed', { taskId: 't-stuck', agentId: 'a4', error: 'agent gone' });
    await d.advance(30_000);
    await d.advance(30_000);
    await d.advance(30_000);
  },
  async running(d) {
    await d.send('task.created', task('t-running'));
    await d.send('agent.assigned', { taskId: 't-running', agentId: 'a5' });
  },
};

const collab = (id: string, agentIds: string[]) => ({ collaborationId: id, agentIds, strategy: 'round-robin', joinTimeoutMs: 300_000 });

/** CollaborationProcessManager: every path of its statechart that a history can take. */
export const collaborationScenarios: Record<string, Scenario> = {
  async started(d) {
    await d.send('collaboration.requested', collab('c-started', ['a1', 'a2']));
    await d.send('agent.joined', { collaborationId: 'c-started', agentId: 'a1' });
    await d.send('agent.joined', { collaborationId: 'c-started', agentId: 'a1' });
    await d.send('agent.joined', { collaborationId: 'c-started', agentId: 'a2' });
  },
  async declined(d) {
    await d.send('collaboration.requested', collab('c-declined', ['a1', 'a2', 'a3']));
    await d.send('agent.joined', { collaborationId: 'c-declined', agentId: 'a1' });
    await d.send('agent.declined', { collaborationId: 'c-declined', agentId: 'a2', reason: 'busy' });
  },
  async timedOut(d) {
    await d.send('collaboration.requested', collab('c-timeout', ['a1', 'a2']));
    await d.send('agent.joined', { collaborationId: 'c-timeout', agentId: 'a2' });
    await d.advance(300_000);
  },
  async running(d) {
    await d.send('collaboration.requested', collab('c-running', ['a1', 'a2']));
    await d.send('agent.joined', { collaborationId: 'c-running', agentId: 'a1' });
  },
};

/** The golden fixtures: file name → saga and scenarios. */
export const fixtureSets: Array<{ file: string; saga: SagaDefinition; scenarios: Record<string, Scenario> }> = [
  { file: 'task-processing.v1.jsonl', saga: TaskProcessing, scenarios: taskScenarios },
  { file: 'collaboration-process-manager.v1.jsonl', saga: CollaborationProcessManager, scenarios: collaborationScenarios },
];

/** Runs `scenarios` of `saga` on a fresh PGlite and returns the export's lines (header first). */
export async function recordExport(saga: SagaDefinition, scenarios: Record<string, Scenario>): Promise<{ lines: string[]; instances: ExportedInstance[] }> {
  const { db, dispose } = await pgliteTestDb();
  try {
    const clock = new FakeClock('2026-01-01T00:00:00.000Z');
    const repository = new PostgresSagaRepository(db, { clock });
    const runtime = new SagaRuntime({ repository, sagas: [saga], clock, timers: false });
    const driver = new Driver(clock, runtime, repository);
    for (const run of Object.values(scenarios)) await run(driver);
    const instances: ExportedInstance[] = [];
    for await (const i of exportSagaInstances(db, { sagas: [saga.name] })) instances.push(i);
    const lines = [JSON.stringify(exportHeader([saga.name], clock.now())), ...instances.map((i) => JSON.stringify(i))];
    return { lines, instances };
  } finally {
    await dispose();
  }
}
