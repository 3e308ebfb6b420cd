import { describe, expect, it } from 'vitest';
import { SharedLogReads } from '../../src/core/bus/shared-log-reads.js';
import type { ReadAllOptions, ReadAllResult } from '../../src/core/ports/event-store.js';

/** A store whose reads stay open until released, counting them. */
function slowStore() {
  const calls: ReadAllOptions[] = [];
  const pending: Array<(r: ReadAllResult) => void> = [];
  return {
    calls,
    release: () => pending.splice(0).forEach((resolve, i) => resolve({ events: [], next: `1.${i}` })),
    readAll: (options: ReadAllOptions = {}) => {
      calls.push(options);
      return new Promise<ReadAllResult>((resolve) => pending.push(resolve));
    },
  };
}

describe('SharedLogReads', () => {
  it('two followers asking for the same page at once share one read', async () => {
    const store = slowStore();
    const reads = new SharedLogReads(store);
    const [a, b] = [reads.readAll({ after: '5.5', limit: 100 }), reads.readAll({ after: '5.5', limit: 100 })];
    store.release();
    expect(await a).toBe(await b);
    expect(store.calls).toHaveLength(1);
  });

  it('a read started before a wake-up is not shared with a follower woken by it', async () => {
    const store = slowStore();
    const reads = new SharedLogReads(store);
    const before = reads.readAll({ after: '5.5', limit: 100 });
    reads.invalidate(); // a commit: the read in flight may not hold it
    const after = reads.readAll({ after: '5.5', limit: 100 });
    store.release();
    await Promise.all([before, after]);
    expect(store.calls).toHaveLength(2);
  });

  it('another cursor or page size is another read; a finished read is never reused', async () => {
    const store = slowStore();
    const reads = new SharedLogReads(store);
    const pages = [reads.readAll({ after: '5.5', limit: 100 }), reads.readAll({ after: '5.6', limit: 100 }), reads.readAll({ after: '5.5', limit: 10 })];
    store.release();
    await Promise.all(pages);
    const again = reads.readAll({ after: '5.5', limit: 100 });
    store.release();
    await again;
    expect(store.calls).toHaveLength(4);
  });
});
