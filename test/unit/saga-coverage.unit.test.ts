/**
 * Statechart coverage: the kit records the transitions and states each step takes when SAGAFLOW_COVERAGE_DIR is
 * set (eventless `always` transitions and timers included), and `sagaflow test-coverage` reports them against the
 * generated paths. Also the zod sample generator the generated paths use.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { readCoverage, sagaSpec, sampleOf } from 'sagaflow/testing';
import { TaskProcessing } from '../../sagas/index.js';
import { runCli } from '../support/cli-harness.js';

describe('kit coverage recording and sagaflow test-coverage', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sagaflow-cov-'));
    process.env.SAGAFLOW_COVERAGE_DIR = dir;
  });
  afterEach(() => {
    delete process.env.SAGAFLOW_COVERAGE_DIR;
    rmSync(dir, { recursive: true, force: true });
  });

  it('records each applied step: the start, an SLA timer, the eventless transitions after it', async () => {
    const spec = sagaSpec(TaskProcessing);
    await spec.when({ type: 'task.created', data: { taskId: 't1', taskType: 'x', slaMs: 1_000, maxAttempts: 1 } });
    await spec.advanceTime(1_000);
    spec.thenExpect({ state: 'compensated' });
    const recorded = readCoverage(dir, 'TaskProcessing');
    expect(recorded.steps).toBe(2);
    expect([...recorded.transitions]).toEqual([
      'TaskProcessing.pending on task.created#0',
      'TaskProcessing.active on xstate.after.slaTimeout.TaskProcessing.active#0',
      'TaskProcessing.compensating.next always#0',
      'TaskProcessing.recovering always#1',
    ]);
    expect(recorded.states).toContain('TaskProcessing.recovering');
    expect(readdirSync(dir)).toEqual([`TaskProcessing.${process.pid}.jsonl`]);
  });

  it('nothing is recorded without the variable, and an ignored event records no step', async () => {
    delete process.env.SAGAFLOW_COVERAGE_DIR;
    const spec = sagaSpec(TaskProcessing);
    await spec.when({ type: 'task.created', data: { taskId: 't1', taskType: 'x' } });
    process.env.SAGAFLOW_COVERAGE_DIR = dir;
    await spec.when({ type: 'agent.released', data: { taskId: 't1', agentId: 'a1' } });
    expect(readCoverage(dir, 'TaskProcessing').steps).toBe(0);
  });

  it('test-coverage reports what was missed and the paths no test took; --fail-under exits 6', async () => {
    const spec = sagaSpec(TaskProcessing);
    await spec.given({ type: 'task.created', data: { taskId: 't1', taskType: 'x' } });
    await spec.when({ type: 'task.completed', data: { taskId: 't1', completedBy: 'a1' } });
    const r = await runCli(['test-coverage', 'TaskProcessing', '--dir', dir, '--fail-under', '100']);
    expect(r.code).toBe(6);
    expect(r.stdout).toContain('transitions: 2/16 reachable exercised (12.5%); 1 unreachable of 17');
    expect(r.stdout).toContain('not exercised: TaskProcessing.active on task.failed#0');
    expect(r.stdout).toMatch(/paths no kit test took \(\d+\):\n {2}task\.created → /);
    const j = await runCli(['test-coverage', 'TaskProcessing', '--dir', dir, '--json']);
    expect(j.code).toBe(0);
    expect(JSON.parse(j.stdout).transitions.exercised).toEqual(['TaskProcessing.pending on task.created#0', 'TaskProcessing.active on task.completed#0']);
    expect((await runCli(['test-coverage', 'Nope', '--dir', dir])).code).toBe(3);
    expect((await runCli(['test-coverage', 'TaskProcessing', '--fail-under', 'lots'])).code).toBe(2);
  });
});

describe('sampleOf (zod v4 sample generator)', () => {
  it('builds valid data: bounds, formats, enums, arrays of two, defaults kept or minimal', () => {
    const s = z.object({
      id: z.string().min(3).max(5), at: z.iso.datetime({ offset: true }), u: z.uuid(), n: z.number().int().positive().max(9),
      level: z.enum(['low', 'high']), tags: z.array(z.string().min(1)).min(1), tries: z.number().int().positive().default(3), note: z.string().optional(),
    });
    const v = sampleOf(s);
    expect(s.safeParse(v).success).toBe(true);
    expect(v).toMatchObject({ id: 'idx', n: 1, level: 'low', tags: ['tags-1', 'tags-2'], tries: 3 });
    expect(v).not.toHaveProperty('note');
    expect(sampleOf(s, { id: 'abcd' }, { defaults: 'minimal' })).toMatchObject({ id: 'abcd', tries: 1 });
  });

  it('an unsupported schema kind is a ValidationError naming the field', () => {
    expect(() => sampleOf(z.object({ when: z.date() }))).toThrow(/at when: schema kind "date" is not supported/);
  });
});
