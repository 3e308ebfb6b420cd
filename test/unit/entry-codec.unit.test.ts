import { describe, expect, it } from 'vitest';
import { createEvent, parseEnvelopeJson } from '../../src/core/events/envelope.js';
import { decodeEntry, encodeEntry } from '../../src/redis/entry-codec.js';

/**
 * The Redis consumer's decoder has an allocation-free pre-check in front of zod. It must accept and
 * reject exactly what `parseEnvelopeJson` does: compare both over valid and subtly invalid envelopes.
 */
describe('Redis entry decoding agrees with the envelope schema', () => {
  const base = createEvent({ type: 'task.created', streamId: 's-1', data: { title: 'x' }, metadata: { correlationId: 'c' } });
  const variants: Array<[string, unknown]> = [
    ['valid', base],
    ['valid, free metadata', { ...base, metadata: { tenant: 'a', traceparent: '' } }],
    ['extra top-level field', { ...base, extra: 1 }],
    ['missing field', (({ aggregateType: _a, ...rest }) => rest)(base)],
    ['bad uuid', { ...base, id: 'not-a-uuid' }],
    ['uppercase uuid', { ...base, id: base.id.toUpperCase() }],
    ['empty type', { ...base, type: '' }],
    ['type with spaces', { ...base, type: 'task created' }],
    ['type too long', { ...base, type: `a.${'b'.repeat(250)}` }],
    ['negative version', { ...base, version: -1 }],
    ['fractional version', { ...base, version: 1.5 }],
    ['timestamp without offset', { ...base, timestamp: '2026-01-01T00:00:00' }],
    ['timestamp with offset', { ...base, timestamp: '2026-01-01T00:00:00+02:00' }],
    ['data is an array', { ...base, data: [1] }],
    ['data is null', { ...base, data: null }],
    ['metadata value not a string', { ...base, metadata: { correlationId: 5 } }],
    ['empty correlationId', { ...base, metadata: { correlationId: '' } }],
    ['long free metadata', { ...base, metadata: { note: 'x'.repeat(5000) } }],
    ['streamId empty', { ...base, streamId: '' }],
    ['not an object', [base]],
  ];

  for (const [name, value] of variants) {
    it(name, () => {
      const text = JSON.stringify(value);
      let expected: 'ok' | string;
      try {
        parseEnvelopeJson(text);
        expected = 'ok';
      } catch (err) {
        expected = (err as { code?: string }).code ?? 'error';
      }
      const decoded = decodeEntry(['e', text, 'k', 's-1'], {});
      const actual = decoded.ok ? 'ok' : ((decoded.error as { code?: string }).code ?? 'error');
      expect(actual).toBe(expected);
      if (decoded.ok) expect(decoded.event).toEqual(JSON.parse(text));
    });
  }

  it('round-trips an encoded entry with its ordering key', () => {
    const decoded = decodeEntry(encodeEntry(base, 'key-1'), {});
    expect(decoded).toEqual({ ok: true, event: base, key: 'key-1' });
  });
});
