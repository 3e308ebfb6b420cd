import { describe, expect, it } from 'vitest';
import { fitColumns, table } from '../../src/cli/output.js';

// eslint-disable-next-line no-control-regex -- ANSI colour codes take no columns
const width = (text: string) => Math.max(...text.replace(/\u001b\[[0-9;]*m/g, '').split('\n').map((l) => [...l].length));

describe('CLI tables fit the terminal', () => {
  const state = JSON.stringify({ compensating: { refunding: 'awaitingRefund', notifying: { pending: ['email', 'sms', 'push'] } } });
  const effects = JSON.stringify({ emitted: ['payment.refund.requested', 'customer.notified'], timersScheduled: ['xstate.after.refundTimeout.Trip.compensating'] });
  const rows = Array.from({ length: 5 }, (_, i) => [i + 1, '2026-11-30T15:00:00.000Z', `trip.payment.failed\n01a22cd7-c2b0-720b-a784-ee5bfc97${i}d00`, `${state} → ${state}`, 'applied', effects]);
  const head = ['#', 'time', 'event', 'from → to', 'kind', 'effects'];

  for (const columns of [80, 100, 140]) {
    it(`wraps wide cells so no line passes ${columns} columns, and loses no character`, () => {
      const text = table(head, rows, { isTTY: true, columns });
      expect(width(text)).toBeLessThanOrEqual(columns);
      // Every character of a cell is still there, wrapped across the lines of its column.
      const plain = table(head, rows.slice(0, 1), { isTTY: false, columns });
      const bodyLines = plain.split('\n').filter((l) => l.startsWith('│')).slice(1);
      const column = bodyLines.map((l) => l.split('│')[4]!.trim()).join('').replace(/ /g, '');
      expect(column).toBe(`${state} → ${state}`.replace(/ /g, ''));
    });
  }

  it('without a width (a pipe, --wide) keeps rows whole', () => {
    const text = table(head, rows, { isTTY: false });
    expect(width(text)).toBeGreaterThan(200);
    expect(text).toContain(`${state} → ${state}`);
  });

  it('leaves a table that fits alone; narrow columns keep their width, wide ones share the rest', () => {
    expect(fitColumns([3, 10, 20], 80)).toBeUndefined();
    const w = fitColumns([2, 24, 300, 300], 100)!;
    expect(w[0]).toBe(4); // 2 + padding
    expect(w[1]).toBe(26);
    expect(w[2]).toBe(w[3]);
    expect(w.reduce((a, b) => a + b, 0) + 5).toBeLessThanOrEqual(100);
  });
});
