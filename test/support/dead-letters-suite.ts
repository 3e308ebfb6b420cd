import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvent } from '../../src/core/events/envelope.js';
import type { DeadLetters } from '../../src/core/ports/dead-letters.js';

/** The DeadLetters conformance suite. */
export function deadLettersSuite(name: string, factory: () => Promise<{ letters: DeadLetters; dispose(): Promise<void> }>): void {
  describe(`DeadLetters conformance: ${name}`, () => {
    let letters: DeadLetters;
    let dispose: () => Promise<void>;
    beforeAll(async () => ({ letters, dispose } = await factory()));
    afterAll(() => dispose());

    it('adds, lists by filter, gets, and resolves each letter once', async () => {
      const handlerId = `h-${crypto.randomUUID()}`;
      const event = createEvent({ type: 'task.created', data: { title: 'x' } });
      const at = new Date().toISOString();
      const a = await letters.add({ handlerId, event, error: { message: 'boom', code: 'X' }, attempts: 3, firstFailedAt: at, lastFailedAt: at });
      await letters.add({ handlerId, event, error: { message: 'bad' }, attempts: 1, firstFailedAt: at, lastFailedAt: at, saga: 'S', sagaKey: 'k1' });
      expect(a).toMatchObject({ handlerId, status: 'open', attempts: 3, error: { message: 'boom', code: 'X' } });
      expect((await letters.get(a.id))?.event).toEqual(event);
      expect(await letters.list({ handlerId })).toHaveLength(2);
      expect((await letters.list({ handlerId, saga: 'S' })).map((l) => l.sagaKey)).toEqual(['k1']);
      expect(await letters.resolve(a.id, 'discarded', 'not needed')).toBe(true);
      expect(await letters.resolve(a.id, 'retried')).toBe(false);
      expect(await letters.get(a.id)).toMatchObject({ status: 'discarded', note: 'not needed' });
      expect(await letters.list({ handlerId, status: 'open' })).toHaveLength(1);
      expect(await letters.get('00000000-0000-0000-0000-000000000000')).toBeUndefined();
      expect(await letters.get('not-an-id')).toBeUndefined();
    });
  });
}
