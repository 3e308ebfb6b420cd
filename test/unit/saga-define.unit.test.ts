import { describe, expect, it } from 'vitest';
import { emit, raise, setup, type AnyStateMachine } from 'xstate';
import { z } from 'zod';
import { SagaDefinitionError } from '../../src/core/errors.js';
import { defineSaga } from '../../src/core/saga/define-saga.js';
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

  it('the example test machine emits through emit (outbox), not actions with side effects', () => {
    expect(typeof emit).toBe('function');
    expect(orderMachine.id).toBe('Order');
  });
});
