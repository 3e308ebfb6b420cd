import { describe, expect, it } from 'vitest';
import { assign, cancel, createMachine, emit, enqueueActions, log, raise, setup, type AnyStateMachine } from 'xstate';
import { decide } from '../../src/core/saga/decider.js';
import { createEvent } from '../../src/core/events/envelope.js';
import { exampleSagas } from '../../sagas/index.js';
import { z } from 'zod';
import { SagaDefinitionError } from '../../src/core/errors.js';
import { defineSaga, type SagaDefinition } from '../../src/core/saga/define-saga.js';
import { OrderSaga, orderMachine } from '../support/test-saga.js';

const base = { name: 'S', version: 1, events: { 'a.started': z.object({ id: z.string() }) }, correlate: { 'a.started': () => 'k' }, startedBy: ['a.started'] };
const machineWith = (states: Record<string, unknown>, delays: Record<string, number> = {}) =>
  setup({ delays }).createMachine({ id: 'S', initial: 'idle', states: { idle: { on: { 'a.started': 'wait' } }, ...states } } as never) as unknown as AnyStateMachine;

function definitionError(fn: () => unknown): SagaDefinitionError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SagaDefinitionError);
    return err as SagaDefinitionError;
  }
  throw new Error('expected a SagaDefinitionError');
}

describe('defineSaga checks', () => {
  it('accepts a well-formed saga and records the events it raises to itself', () => {
    expect(OrderSaga.onMissing).toBe('dead-letter');
    expect([...OrderSaga.internalEvents]).toEqual(['order.remind']);
  });

  it('rejects an `on` event that is not declared', () => {
    const e = definitionError(() => defineSaga({ ...base, machine: machineWith({ wait: { on: { 'a.other': 'idle' } } }) }));
    expect(e.message).toMatch(/saga "S" \(state "S.wait"\): handles event "a.other", which is not declared/);
  });

  it('rejects a declared event with no correlate, and correlate/startedBy of undeclared types', () => {
    const machine = machineWith({ wait: {} });
    expect(definitionError(() => defineSaga({ ...base, machine, events: { ...base.events, 'a.x': z.object({}) } })).message).toContain('"a.x" is declared in events but has no correlate');
    expect(definitionError(() => defineSaga({ ...base, machine, startedBy: ['a.nope'] })).message).toContain('startedBy "a.nope" is not declared');
    expect(definitionError(() => defineSaga({ ...base, machine, correlate: { ...base.correlate, 'a.nope': () => 'k' } })).message).toContain('"a.nope", which is not declared');
  });

  it('rejects a delayed raise without id', () => {
    const machine = machineWith({ wait: { entry: raise({ type: 'a.tick' }, { delay: 'd' as never }), on: { 'a.tick': 'idle' } } }, { d: 5 });
    expect(definitionError(() => defineSaga({ ...base, machine })).message).toMatch(/state "S.wait"\): a delayed raise has no id/);
  });

  it('rejects an unknown or numeric after delay', () => {
    const unknown = machineWith({ wait: { after: { slaa: 'idle' } } }, { sla: 5 });
    expect(definitionError(() => defineSaga({ ...base, machine: unknown })).message).toMatch(/state "S.wait"\): after delay "slaa" is not defined in setup\({ delays }\); known: sla/);
    const numeric = machineWith({ wait: { after: { 1000: 'idle' } } });
    expect(definitionError(() => defineSaga({ ...base, machine: numeric })).message).toContain('after delay 1000 is numeric');
    expect(defineSaga({ ...base, machine: numeric }, { allowNumericDelays: true }).name).toBe('S');
  });

  it('rejects invoke (not durable)', () => {
    const machine = machineWith({ wait: { invoke: { src: 'x' } } });
    expect(definitionError(() => defineSaga({ ...base, machine })).message).toContain('invoke is not durable');
  });

  it('rejects a bad name or version', () => {
    const machine = machineWith({ wait: {} });
    expect(definitionError(() => defineSaga({ ...base, machine, name: '9 bad' })).code).toBe('SAGA_DEFINITION');
    expect(definitionError(() => defineSaga({ ...base, machine, version: 0 })).message).toContain('version must be a positive integer');
  });

  it('a plain function action never runs on the durable path (why defineSaga rejects it)', () => {
    let calls = 0;
    const machine = setup({ actions: { count: () => void calls++ } }).createMachine({
      id: 'S',
      initial: 'idle',
      context: { n: 0 },
      states: { idle: { on: { 'a.started': { target: 'wait', actions: [() => void calls++, 'count', assign({ n: 1 })] } } }, wait: { entry: () => void calls++ } },
    }) as unknown as AnyStateMachine;
    // Built by hand: defineSaga would refuse this machine.
    const saga = { ...base, machine, onMissing: 'dead-letter', eventTypes: new Set(['a.started']), internalEvents: new Set<string>(), defined: true } as const;
    const now = new Date('2025-01-01T00:00:00Z');
    const decision = decide({ saga, key: 'k', envelope: createEvent({ type: 'a.started', data: { id: 'x' } }, now), now });
    expect(decision).toMatchObject({ kind: 'applied', state: 'wait', context: { n: 1 } });
    expect(calls).toBe(0);
  });

  it('rejects an inline function action, naming the state path and where it sits', () => {
    const entry = machineWith({ wait: { initial: 'inner', states: { inner: { entry: () => undefined } } } });
    const e = definitionError(() => defineSaga({ ...base, machine: entry }));
    expect(e.message).toMatch(/^saga "S" \(state "S.wait.inner"\): entry action an inline function, which would never run/);
    expect(e.message).toContain('emit(...) a command event');
    expect(e.message).toContain('assign(...) to change context');
    expect(e.details).toMatchObject({ saga: 'S', state: 'S.wait.inner', where: 'entry' });
    const onTransition = machineWith({ wait: { on: { 'a.started': { actions: [emit({ type: 'x' }), function audit() {}] } } } });
    expect(definitionError(() => defineSaga({ ...base, machine: onTransition })).message).toMatch(/\(state "S.wait"\): transition on "a.started" action an inline function \(audit\)/);
    const inAfter = machineWith({ wait: { after: { d: { target: 'idle', actions: () => undefined } } } }, { d: 5 });
    expect(definitionError(() => defineSaga({ ...base, machine: inAfter })).message).toContain('(state "S.wait"): after "d" transition action');
    const inAlways = machineWith({ wait: { always: { guard: () => false, target: 'idle', actions: () => undefined } } });
    expect(definitionError(() => defineSaga({ ...base, machine: inAlways })).message).toContain('(state "S.wait"): always transition action');
    const onExit = machineWith({ wait: { exit: [() => undefined] } });
    expect(definitionError(() => defineSaga({ ...base, machine: onExit })).message).toContain('(state "S.wait"): exit action');
    const inInitial = machineWith({ wait: { initial: { target: 'a', actions: () => undefined }, states: { a: {} } } });
    expect(definitionError(() => defineSaga({ ...base, machine: inInitial })).message).toContain('(state "S.wait"): initial transition action');
    const inOnDone = machineWith({ wait: { initial: 'a', states: { a: { type: 'final' } }, onDone: { target: 'idle', actions: () => undefined } } });
    expect(definitionError(() => defineSaga({ ...base, machine: inOnDone })).message).toContain('(state "S.wait"): onDone transition action');
    // A state with an id of its own is still named by its path.
    const customId = machineWith({ wait: { id: 'waiting', entry: () => undefined } });
    expect(definitionError(() => defineSaga({ ...base, machine: customId })).message).toContain('(state "S.wait")');
  });

  it('rejects a named action whose setup implementation is a plain function, or that has none', () => {
    const machine = (actions: Record<string, unknown>, action: unknown) =>
      setup({ actions: actions as never }).createMachine({ id: 'S', initial: 'idle', states: { idle: { on: { 'a.started': { target: 'wait', actions: action as never } } }, wait: {} } }) as unknown as AnyStateMachine;
    const plain = definitionError(() => defineSaga({ ...base, machine: machine({ notify: () => undefined }, 'notify') }));
    expect(plain.message).toMatch(/\(state "S.idle"\): transition on "a.started" action "notify", a plain function in setup\({ actions }\), which would never run/);
    expect(plain.details).toMatchObject({ action: 'notify' });
    const withParams = definitionError(() => defineSaga({ ...base, machine: machine({ notify: () => undefined }, { type: 'notify', params: { x: 1 } }) }));
    expect(withParams.message).toContain('action "notify", a plain function');
    const missing = createMachine({ id: 'S', initial: 'idle', states: { idle: { on: { 'a.started': { target: 'wait', actions: 'notfy' } } }, wait: {} } }) as unknown as AnyStateMachine;
    expect(definitionError(() => defineSaga({ ...base, machine: missing })).message).toContain('action "notfy", which has no implementation in setup({ actions })');
  });

  it('accepts built-in action creators, inline and named, and enqueueActions', () => {
    const builtIns = {
      track: assign({ n: ({ context }: { context: { n: number } }) => context.n + 1 }),
      announce: emit({ type: 'x.announced' }),
      batch: enqueueActions(({ enqueue }) => {
        enqueue(emit({ type: 'x.enqueued' }));
      }),
    };
    const machine = setup({ actions: builtIns as never, delays: { d: 5 } }).createMachine({
      id: 'S',
      initial: 'idle',
      context: { n: 0 },
      states: {
        idle: { on: { 'a.started': { target: 'wait', actions: ['track', { type: 'announce' }, 'batch', log('started')] } } },
        wait: {
          entry: [raise({ type: 'a.tick' }, { id: 'tick', delay: 'd' as never }), enqueueActions(({ enqueue }) => enqueue.assign({ n: 0 }))],
          exit: cancel('tick'),
          on: { 'a.tick': { target: 'idle', actions: emit({ type: 'x.ticked' }) } },
        },
      },
    } as never) as unknown as AnyStateMachine;
    expect(defineSaga({ ...base, machine }).name).toBe('S');
  });

  it('rejects a startedBy event the initial state does not take, naming the event and the state', () => {
    const machine = setup({}).createMachine({ id: 'S', initial: 'idle', states: { idle: { on: { 'a.other': 'wait' } }, wait: { on: { 'a.started': 'idle' } } } }) as unknown as AnyStateMachine;
    const events = { ...base.events, 'a.other': z.object({}) };
    const correlate = { ...base.correlate, 'a.other': () => 'k' };
    const e = definitionError(() => defineSaga({ ...base, events, correlate, machine }));
    expect(e.message).toMatch(/^saga "S" \(state "S.idle"\): startedBy "a.started" is not accepted by the initial state/);
    expect(e.details).toMatchObject({ event: 'a.started', state: 'S.idle' });
    // Taking it in the initial state fixes it; so does starting by the event the initial state takes.
    expect(defineSaga({ ...base, events, correlate, machine, startedBy: ['a.other'] }).name).toBe('S');
  });

  it('counts the initial children, ancestors, parallel regions, wildcards and always targets as the initial state', () => {
    const events = { 'a.started': z.object({}), 'b.started': z.object({}) };
    const correlate = { 'a.started': () => 'k', 'b.started': () => 'k' };
    const define = (config: object) => defineSaga({ ...base, events, correlate, startedBy: ['a.started', 'b.started'], machine: setup({}).createMachine(config as never) as unknown as AnyStateMachine });
    // b.started only on the root, a.started on the initial grandchild.
    expect(define({ id: 'S', on: { 'b.started': '.done' }, initial: 'outer', states: { outer: { initial: 'inner', states: { inner: { on: { 'a.started': '#S.done' } } } }, done: {} } }).name).toBe('S');
    // One per parallel region.
    expect(define({ id: 'S', type: 'parallel', states: { x: { on: { 'a.started': { actions: emit({ type: 'y' }) } } }, y: { on: { 'b.started': { actions: emit({ type: 'z' }) } } } } }).name).toBe('S');
    // A wildcard; an eventless always into the state that takes them.
    expect(define({ id: 'S', initial: 'boot', states: { boot: { always: 'ready' }, ready: { on: { '*': 'done' } }, done: {} } }).name).toBe('S');
    // A non-initial child does not count, nor does a transition that neither moves nor acts (can() ignores it too).
    const e = definitionError(() =>
      define({ id: 'S', initial: 'outer', states: { outer: { initial: 'a', on: { 'a.started': {} }, states: { a: {}, b: { on: { 'b.started': '#S.done' } } } }, done: { on: { 'a.started': 'outer' } } } }),
    );
    expect(e.message).toMatch(/\(state "S.outer.a"\): startedBy "a.started" is not accepted/);
  });

  it('accepts the example sagas', () => {
    expect(exampleSagas.length).toBeGreaterThan(0);
    // Importing them already ran defineSaga; again here so a failure names this test.
    for (const saga of exampleSagas as readonly SagaDefinition[]) expect(defineSaga<AnyStateMachine>({ ...saga })).toMatchObject({ name: saga.name, defined: true });
  });

  it('the example test machine emits through emit (outbox), not actions with side effects', () => {
    expect(typeof emit).toBe('function');
    expect(orderMachine.id).toBe('Order');
  });
});
