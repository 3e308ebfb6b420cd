/**
 * Golden histories of version 1 of the example sagas (test/fixtures/verify/, recorded on the real runtime over
 * PGlite and exported: test/support/verify-fixtures.ts) replayed by verify: through the current machines no
 * divergence; through deliberately changed machines the divergence is found and named.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readExport, type ExportedInstance } from '../../src/app/saga-export-format.js';
import { verifyInstances, VerifyOutcome, type VerifyInstanceResult } from '../../src/app/verify.js';
import { defineSaga, type SagaDefinition } from '../../src/core/saga/define-saga.js';
import { createMachine, emit } from 'xstate';
import { z } from 'zod';
import { CollaborationProcessManager, TaskProcessing, command, taskCreated } from '../../sagas/index.js';
import type { TaskProcessingContext } from '../../sagas/task-processing/index.js';

async function golden(file: string): Promise<ExportedInstance[]> {
  const out: ExportedInstance[] = [];
  const lines = readFileSync(new URL(`../fixtures/verify/${file}`, import.meta.url), 'utf8').split('\n');
  for await (const i of readExport(lines, file)) out.push(i);
  return out;
}
const taskHistories = () => golden('task-processing.v1.jsonl');
const collabHistories = () => golden('collaboration-process-manager.v1.jsonl');

/** The config a definition was made from. */
function configOf(saga: SagaDefinition) {
  const { eventTypes: _e, internalEvents: _i, defined: _d, ...config } = saga;
  return config;
}

/** The saga with its machine's implementations changed (`provide`), same name and version. */
function changed(saga: SagaDefinition, implementations: Parameters<SagaDefinition['machine']['provide']>[0]): SagaDefinition {
  return defineSaga({ ...configOf(saga), machine: saga.machine.provide(implementations) });
}

const byKey = (results: VerifyInstanceResult[]) => Object.fromEntries(results.map((r) => [r.key, r]));

describe('verify: golden v1 histories of the example sagas', () => {
  it('replay through the current machines: every instance ok, every step replayed, emitted events reproduced exactly', async () => {
    for (const histories of [await taskHistories(), await collabHistories()]) {
      const { results, summary } = await verifyInstances([TaskProcessing, CollaborationProcessManager], histories, { includeOk: true });
      expect(summary.ok).toBe(true);
      expect(results.map((r) => [r.key, r.outcome, r.stepsReplayed])).toEqual(histories.map((h) => [h.key, 'ok', h.history.length]));
    }
    // The fixtures hold what the tests below rely on: timers that fired, compensation, running instances, ignored events.
    const tasks = await taskHistories();
    expect(tasks.map((t) => t.status).sort()).toEqual(['compensated', 'compensated', 'completed', 'completed', 'failed', 'running']);
    expect(tasks.flatMap((t) => t.history).filter((h) => h.eventType.startsWith('xstate.after.')).length).toBeGreaterThanOrEqual(3);
    expect((await collabHistories()).flatMap((c) => c.history.map((h) => h.kind))).toContain('ignored');
  });

  it('a command emitted with different data: diverged at the step that emits it, naming the event and the field', async () => {
    const v1b = changed(TaskProcessing, {
      actions: {
        requestAssignment: emit(({ context }: { context: TaskProcessingContext }) =>
          command('agent.assignment.requested', { taskId: context.taskId, taskType: context.taskType, priority: context.priority + 1, attempt: context.attempt }),
        ),
      } as never,
    });
    const { results, summary } = await verifyInstances([v1b], await taskHistories());
    expect(summary.ok).toBe(false);
    expect(summary.byOutcome.diverged).toBe(6);
    for (const r of results) {
      expect(r).toMatchObject({ outcome: 'diverged', storedVersion: 1, replayedWith: 1, divergence: { kind: 'emitted', step: 1, eventType: 'task.created' } });
      expect(r.divergence?.message).toMatch(/emitted event #1 \(agent\.assignment\.requested\) differs in data/);
    }
  });

  it('a changed delay: only the instances that scheduled that timer diverge, on their timers', async () => {
    const v1b = changed(TaskProcessing, { delays: { compensationRetry: 45_000 } });
    const { results } = await verifyInstances([v1b], await taskHistories(), { includeOk: true });
    const r = byKey(results);
    for (const key of ['t-completed', 't-early', 't-running']) expect(r[key]?.outcome).toBe('ok');
    expect(r['t-failed']).toMatchObject({ outcome: 'diverged', divergence: { kind: 'timers', step: 4, eventType: 'task.failed' } });
    expect(r['t-stuck']).toMatchObject({ outcome: 'diverged', divergence: { kind: 'timers', step: 3, eventType: 'task.failed' } });
    expect(r['t-sla']).toMatchObject({ outcome: 'diverged', divergence: { kind: 'timers', step: 3, eventType: 'xstate.after.slaTimeout.TaskProcessing.active' } });
    // 45 s after the step instead of the stored 30 s.
    const timer = 'xstate.after.compensationRetry.TaskProcessing.compensating.awaitingReply';
    expect(r['t-stuck']?.divergence?.message).toContain(`timers scheduled [${timer} @ 2026-01-01T00:11:02.000Z]`);
    expect(r['t-stuck']?.divergence?.message).toContain(`stored scheduled [${timer} @ 2026-01-01T00:10:47.000Z]`);
  });

  it('a guard that now refuses an event: not-accepted, with the state the new machine was in', async () => {
    const v1b = changed(CollaborationProcessManager, { guards: { isInvitee: () => false } });
    const { results } = await verifyInstances([v1b], await collabHistories(), { includeOk: true });
    const r = byKey(results);
    expect(r['c-declined']).toMatchObject({ outcome: 'diverged', divergence: { kind: 'not-accepted', step: 3, eventType: 'agent.declined', replayed: 'awaitingJoins', stored: 'compensated' } });
    for (const key of ['c-started', 'c-timeout', 'c-running']) expect(r[key]?.outcome).toBe('ok');
  });

  it('a transition to another state: diverged on state, stored and replayed named', async () => {
    const m = CollaborationProcessManager.machine;
    const config = m.config as unknown as { states: Record<string, Record<string, unknown>> };
    const awaiting = config.states.awaitingJoins!;
    const on = awaiting.on as Record<string, unknown>;
    const machine = createMachine(
      {
        ...config,
        states: {
          ...config.states,
          // The last join now goes through a new `starting` state instead of straight to completed.
          awaitingJoins: { ...awaiting, on: { ...on, 'agent.joined': [{ guard: 'isLastPendingInvitee', target: 'starting', actions: 'recordJoin' }, { guard: 'isPendingInvitee', actions: 'recordJoin' }] } },
          starting: { entry: 'announceStart' },
        },
      } as never,
      m.implementations as never,
    );
    const { results } = await verifyInstances([defineSaga({ ...configOf(CollaborationProcessManager), machine })], await collabHistories(), { includeOk: true });
    expect(byKey(results)['c-started']).toMatchObject({ outcome: 'diverged', divergence: { kind: 'state', step: 4, stored: 'completed', replayed: 'starting' } });
  });

  it('a stricter event schema: rejected, with the field the new schema refuses', async () => {
    const v1b = defineSaga({ ...configOf(TaskProcessing), events: { ...TaskProcessing.events, 'task.created': taskCreated.extend({ owner: z.string() }) } });
    const { results } = await verifyInstances([v1b], await taskHistories());
    expect(results).toHaveLength(6);
    expect(results[0]).toMatchObject({ outcome: 'diverged', divergence: { kind: 'rejected', step: 1, eventType: 'task.created' } });
    expect(results[0]?.divergence?.message).toMatch(/data\.owner/);
  });

  it('version 2 loaded without version 1: needs migration (the replay through v2 attached); a declared migration is run', async () => {
    const histories = await taskHistories();
    const v2 = defineSaga({ ...configOf(TaskProcessing), version: 2 });
    const plain = await verifyInstances([v2], histories);
    expect(plain.summary).toMatchObject({ ok: false, byOutcome: { 'needs-migration': 6 } });
    expect(plain.results.every((r) => r.replayedWith === 2 && r.divergence === undefined)).toBe(true);

    // Side by side: v1 still loaded, so v1 instances replay through it.
    expect((await verifyInstances([v2, TaskProcessing], histories)).summary.byOutcome.ok).toBe(6);

    // A typed migration `migrateFrom[1]` of the newest version, run as `sagas migrate` would (nothing written).
    const identity = defineSaga({ ...configOf(TaskProcessing), version: 2, migrateFrom: { 1: (s: { value: unknown; context: unknown }) => ({ value: s.value, context: s.context }) } } as never);
    expect((await verifyInstances([identity], histories)).summary.byOutcome.migrates).toBe(6);
    const broken = defineSaga({ ...configOf(TaskProcessing), version: 2, migrateFrom: { 1: () => { throw new Error('no agent field'); } } } as never);
    const failed = await verifyInstances([broken], histories);
    expect(failed.results[0]).toMatchObject({ outcome: VerifyOutcome.MigrationFailed, migrationError: expect.stringContaining('the transform threw: no agent field') });
  });

  it('events removed from the log by retention: emitted ones are compared by id and type; a missing cause makes the instance unverifiable, not failing', async () => {
    const pruned = (await taskHistories()).map((i) => ({ ...i, emitted: [] }));
    expect((await verifyInstances([TaskProcessing], pruned)).summary).toMatchObject({ ok: true, byOutcome: { ok: 6 } });
    const renamed = changed(TaskProcessing, {
      actions: {
        requestAssignment: emit(({ context }: { context: TaskProcessingContext }) => command('agent.release.requested', { taskId: context.taskId, agentId: 'a0', reason: 'changed' })),
      } as never,
    });
    const r = await verifyInstances([renamed], pruned);
    expect(r.results[0]?.divergence?.message).toContain('emitted [agent.release.requested');

    const noCause = (await taskHistories()).map((i) => (i.key === 't-completed' ? { ...i, events: i.events.slice(1) } : i));
    const v = await verifyInstances([TaskProcessing], noCause);
    expect(v.summary).toMatchObject({ ok: true, byOutcome: { ok: 5, unverifiable: 1 } });
    expect(v.results).toMatchObject([{ key: 't-completed', outcome: 'unverifiable', stepsReplayed: 0, divergence: { kind: 'missing-event', step: 1 } }]);
  });

  it('a saga the loaded module does not define: unknown-saga', async () => {
    const { summary } = await verifyInstances([TaskProcessing], await collabHistories());
    expect(summary).toMatchObject({ ok: false, byOutcome: { 'unknown-saga': 4 } });
  });
});
