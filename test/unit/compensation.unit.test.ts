import { describe, expect, it } from 'vitest';
import { assign, createActor, initialTransition, setup, transition, type AnyMachineSnapshot } from 'xstate';
import {
  compensatingState,
  compensationActions,
  compensationGuards,
  describeFailure,
  emptyCompensationLog,
  failPending,
  forgetStep,
  isFailureOfPending,
  isReplyToPending,
  MAX_COMPENSATION_ERRORS,
  pendingStep,
  recordStep,
  settlePending,
  type CompensationLog,
  type CompensationStep,
  type SagaCommand,
} from '../../src/core/saga/compensation.js';
import { defineSaga } from '../../src/core/saga/define-saga.js';
import { deriveStatus } from '../../src/core/saga/status.js';
import { z } from 'zod';

const step = (name: string, extra: Partial<CompensationStep> = {}): CompensationStep => ({
  step: name,
  command: { type: `undo.${name}`, data: { name } },
  ...extra,
});

describe('compensation log (pure functions)', () => {
  it('records steps as a stack; re-recording a step replaces it and moves it to the top', () => {
    let log = emptyCompensationLog();
    log = recordStep(log, step('a'));
    log = recordStep(log, step('b'));
    expect(pendingStep(log)?.step).toBe('b');
    log = recordStep(log, step('a', { reply: 'a.undone' }));
    expect(log.steps.map((s) => s.step)).toEqual(['b', 'a']);
    expect(pendingStep(log)?.reply).toBe('a.undone');
    expect(forgetStep(log, 'a').steps.map((s) => s.step)).toEqual(['b']);
  });

  it('settling pops the pending step and resets the attempt count; failing counts and keeps bounded errors', () => {
    let log: CompensationLog = recordStep(recordStep(emptyCompensationLog(), step('a')), step('b'));
    log = failPending(log, 'down');
    log = failPending(log, 'still down');
    expect(log.attempt).toBe(2);
    expect(log.errors).toEqual(['b: down', 'b: still down']);
    log = settlePending(log);
    expect(log.attempt).toBe(0);
    expect(pendingStep(log)?.step).toBe('a');
    for (let i = 0; i < MAX_COMPENSATION_ERRORS + 5; i++) log = failPending(log, `e${i}`);
    expect(log.errors).toHaveLength(MAX_COMPENSATION_ERRORS);
    expect(log.errors.at(-1)).toBe(`a: e${MAX_COMPENSATION_ERRORS + 4}`);
  });

  it('matches replies and failures to the pending step by type and by the declared data fields', () => {
    const log = recordStep(emptyCompensationLog(), step('x', { reply: 'x.done', failure: 'x.failed', match: { id: '7' } }));
    expect(isReplyToPending(log, { type: 'x.done', data: { id: '7' } } as never)).toBe(true);
    expect(isReplyToPending(log, { type: 'x.done', data: { id: '8' } } as never)).toBe(false);
    expect(isReplyToPending(log, { type: 'x.failed', data: { id: '7' } } as never)).toBe(false);
    expect(isFailureOfPending(log, { type: 'x.failed', data: { id: '7' } } as never)).toBe(true);
    expect(isReplyToPending(emptyCompensationLog(), { type: 'x.done' })).toBe(false);
    expect(describeFailure({ type: 'x.failed', data: { error: 'boom' } } as never)).toBe('boom');
    expect(describeFailure({ type: 'xstate.after.retry.M.c' })).toBe('no reply in time');
  });
});

type Ev = { type: 'go' } | { type: 'fail' } | { type: 'b.undone' } | { type: 'b.undo.failed'; data: { error: string } } | { type: 'c.undone' };
type Ctx = { compensation: CompensationLog };

const machine = setup({
  types: { context: {} as Ctx, events: {} as Ev, emitted: {} as SagaCommand },
  delays: { retry: 1000 },
  guards: { ...compensationGuards<Ctx, Ev>({ maxAttempts: 2 }) },
  actions: {
    ...compensationActions<Ctx, Ev>(),
    doSteps: assign({
      compensation: () => {
        let log = emptyCompensationLog();
        log = recordStep(log, step('a')); // fire-and-forget
        log = recordStep(log, step('b', { reply: 'b.undone', failure: 'b.undo.failed' }));
        log = recordStep(log, step('c', { reply: 'c.undone' }));
        return log;
      },
    }),
  },
}).createMachine({
  id: 'M',
  context: { compensation: emptyCompensationLog() },
  initial: 'idle',
  states: {
    idle: { on: { go: { target: 'working', actions: 'doSteps' } } },
    working: { on: { fail: 'compensating' } },
    compensating: compensatingState({ replies: ['b.undone', 'c.undone'], failures: ['b.undo.failed'], retryDelay: 'retry', done: '#M.compensated', failed: '#M.failed' }),
    compensated: { type: 'final', tags: ['compensated'] },
    failed: { type: 'final', tags: ['failed'] },
  },
});

function run(events: Ev[]): { snapshot: AnyMachineSnapshot; emitted: string[][] } {
  let [s] = initialTransition(machine);
  const emitted: string[][] = [];
  for (const e of events) {
    // Through JSON each step, as the runtime stores it.
    const restored = createActor(machine, { snapshot: JSON.parse(JSON.stringify(machine.getPersistedSnapshot(s))) as never }).getSnapshot();
    const [next, actions] = transition(machine, restored, e);
    s = next;
    // ExecutableActionsFrom omits xstate.emit (XSTATE-DURABLE.md, trap 9): widen before filtering.
    const all = actions as ReadonlyArray<{ type: string; params?: unknown }>;
    emitted.push(all.filter((a) => a.type === 'xstate.emit').map((a) => (a.params as { event: SagaCommand }).event.type));
  }
  return { snapshot: s as AnyMachineSnapshot, emitted };
}

describe('compensatingState', () => {
  it('undoes steps newest first, waits for each reply, and sends fire-and-forget undos at once', () => {
    const { snapshot, emitted } = run([{ type: 'go' }, { type: 'fail' }, { type: 'b.undone' }, { type: 'c.undone' }]);
    // c was pending first, so b.undone before c.undone is no reply yet and is ignored.
    expect(emitted).toEqual([[], ['undo.c'], [], ['undo.b']]);
    expect(snapshot.value).toEqual({ compensating: 'awaitingReply' });
    expect(deriveStatus(snapshot)).toBe('compensating');
    const done = run([{ type: 'go' }, { type: 'fail' }, { type: 'c.undone' }, { type: 'b.undone' }]);
    expect(done.emitted).toEqual([[], ['undo.c'], ['undo.b'], ['undo.a']]);
    expect(deriveStatus(done.snapshot)).toBe('compensated');
  });

  it('re-emits on a failure reply and ends failed after maxAttempts tries', () => {
    const fail = { type: 'b.undo.failed', data: { error: 'nope' } } as const;
    const { snapshot, emitted } = run([{ type: 'go' }, { type: 'fail' }, { type: 'c.undone' }, fail, fail]);
    expect(emitted.slice(2)).toEqual([['undo.b'], ['undo.b'], []]);
    expect(snapshot.value).toBe('failed');
    expect(deriveStatus(snapshot)).toBe('failed');
    expect((snapshot.context as Ctx).compensation.errors).toEqual(['b: nope', 'b: nope']);
  });

  it('schedules a retry timer per try (cancelled and re-raised on each re-emit)', () => {
    let [s] = initialTransition(machine);
    [s] = transition(machine, s, { type: 'go' });
    const [s2, a2] = transition(machine, s, { type: 'fail' });
    const raise = a2.find((a) => a.type === 'xstate.raise');
    expect(raise?.params).toMatchObject({ id: 'xstate.after.retry.M.compensating.awaitingReply', delay: 1000 });
    const [s3, a3] = transition(machine, s2, { type: 'xstate.after.retry.M.compensating.awaitingReply' } as never);
    expect(a3.map((a) => a.type)).toEqual(['xstate.cancel', 'xstate.emit', 'xstate.raise']);
    expect((s3.context as Ctx).compensation.errors).toEqual(['c: no reply in time']);
  });

  it('passes defineSaga checks; a retry delay missing from setup({ delays }) is caught when the saga is defined', () => {
    const events = { go: z.object({}), fail: z.object({}), 'b.undone': z.object({}), 'b.undo.failed': z.object({ error: z.string() }), 'c.undone': z.object({}) };
    const correlate = { go: () => 'k', fail: () => 'k', 'b.undone': () => 'k', 'b.undo.failed': () => 'k', 'c.undone': () => 'k' };
    expect(defineSaga({ name: 'M', version: 1, machine, events, correlate, startedBy: ['go'] }).name).toBe('M');
    const typo = setup({
      types: { context: {} as Ctx, events: {} as Ev, emitted: {} as SagaCommand },
      delays: { retry: 1000 },
      guards: { ...compensationGuards<Ctx, Ev>() },
      actions: { ...compensationActions<Ctx, Ev>() },
    }).createMachine({
      id: 'T',
      context: { compensation: emptyCompensationLog() },
      initial: 'idle',
      states: {
        idle: { on: { fail: 'compensating' } },
        compensating: compensatingState({ replies: ['c.undone'], retryDelay: 'retyr', done: '#T.done', failed: '#T.done' }),
        done: { type: 'final' },
      },
    });
    expect(() => defineSaga({ name: 'T', version: 1, machine: typo, events, correlate, startedBy: ['fail'] })).toThrow(/retyr/);
  });
});
