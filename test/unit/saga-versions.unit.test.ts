import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { defineSaga } from '../../src/core/saga/define-saga.js';
import { migrateInstance } from '../../src/core/saga/migration.js';
import { combineVersions, definitionFor, loadedVersions, migrationSources, versionsOf } from '../../src/core/saga/versions.js';
import { sagasOf } from '../../src/daemon/load-sagas.js';
import { OrderSaga } from '../support/test-saga.js';
import { OrderSagaV2 } from '../support/test-saga-v2.js';

describe('saga versions', () => {
  it('combines the versions of one name into the newest, routing over all of them', () => {
    const [order, ...rest] = combineVersions([OrderSagaV2, OrderSaga]);
    expect(rest).toEqual([]);
    expect(order!.version).toBe(2);
    expect(loadedVersions(order!)).toEqual([1, 2]);
    expect(definitionFor(order!, 1)).toBe(OrderSaga);
    expect(definitionFor(order!, 2)).toBe(OrderSagaV2);
    expect(definitionFor(order!, 3)).toBeUndefined();
    expect(order!.eventTypes.has('order.expedited')).toBe(true);
    expect(order!.startedBy).toEqual(['order.placed']);
    expect(migrationSources(order!)).toEqual([1]);
    // Idempotent, and a definition given twice counts once.
    expect(versionsOf(combineVersions([order!, OrderSaga])[0]!)).toEqual([OrderSaga, OrderSagaV2]);
    // A single version stays the plain definition.
    expect(combineVersions([OrderSaga])[0]).toBe(OrderSaga);
  });

  it('refuses two different definitions of one name and version', () => {
    expect(() => combineVersions([OrderSaga, defineSaga({ ...OrderSaga })])).toThrow(/version 1 is defined twice/);
  });

  it('the sagas module loader combines the versions a module exports', () => {
    const sagas = sagasOf({ OrderSaga, OrderSagaV2, all: [OrderSaga] });
    expect(sagas.map((s) => [s.name, loadedVersions(s)])).toEqual([['Order', [1, 2]]]);
  });

  it('defineSaga checks migrateFrom keys and the context schema, and drops a spread definition\'s versions', () => {
    expect(() => defineSaga({ ...OrderSagaV2, migrateFrom: { 2: (s) => s as never } })).toThrow(/keys are older versions of this saga \(1\.\.1\)/);
    expect(() => defineSaga({ ...OrderSagaV2, migrateFrom: { 1: 'x' as never } })).toThrow(/migrateFrom\[1\] must be a function/);
    expect(() => defineSaga({ ...OrderSagaV2, context: {} as z.ZodType })).toThrow(/context must be a zod schema/);
    const combined = combineVersions([OrderSaga, OrderSagaV2])[0]!;
    expect(defineSaga({ ...combined, version: 3, migrateFrom: {} }).versions).toBeUndefined();
  });
});

describe('migrateInstance', () => {
  const instance = (over: Record<string, unknown> = {}) => ({
    saga: 'Order', key: 'o-1', definitionVersion: 1, state: 'awaitingPayment', context: { orderId: 'o-1', notes: 2, amount: 7 }, ...over,
  });

  it('maps state and context, and builds the target snapshot', () => {
    const m = migrateInstance(OrderSagaV2, instance());
    expect(m).toMatchObject({ status: 'running', state: 'waitingForPayment', context: { orderId: 'o-1', notes: 2, amount: 7, currency: 'EUR' } });
    expect(m.snapshot).toMatchObject({ status: 'active', value: 'waitingForPayment', context: { currency: 'EUR' } });
  });

  it('says what failed: no migration, a throw, a bad shape, a context the schema refuses, an unknown state', () => {
    expect(() => migrateInstance(OrderSaga, instance())).toThrow(/version 1 declares no migrateFrom\[1\]/);
    expect(() => migrateInstance(OrderSagaV2, instance({ context: { orderId: 'o-1', notes: 0, amount: 13 } }))).toThrow(/the transform threw: unlucky order/);
    expect(() => migrateInstance(OrderSagaV2, instance({ context: { orderId: 'o-1', notes: 0, amount: 14 } }))).toThrow(/context\.currency/);
    const shape = defineSaga({ ...OrderSagaV2, migrateFrom: { 1: () => 'nope' as never } });
    expect(() => migrateInstance(shape, instance())).toThrow(/must return \{ value, context \}/);
    expect(() => migrateInstance(OrderSagaV2, instance({ state: 'gone' }))).toThrow(/state "gone" does not exist in version 2/);
    try {
      migrateInstance(OrderSagaV2, instance({ state: 'gone' }));
    } catch (err) {
      expect(err).toMatchObject({ code: 'SAGA_MIGRATION_FAILED', details: { saga: 'Order', key: 'o-1', from: 1, to: 2 } });
    }
  });
});
