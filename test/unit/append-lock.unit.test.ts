import { describe, expect, it } from 'vitest';
import { appendLockFor, widenXid } from '../../src/postgres/append-lock.js';

describe('append lock', () => {
  it('gives each schema its own key and inlines only integers', () => {
    const a = appendLockFor('sagaflow');
    const b = appendLockFor('tenant_b');
    expect(a.objId).not.toBe(b.objId);
    expect(a.classId).toBe(b.classId);
    expect(a.sql).toMatch(/^SELECT pg_advisory_xact_lock_shared\(\d+, \d+\)$/);
    expect(a.objId).toBeLessThan(2 ** 31);
  });

  // pg_locks shows a 32-bit xid; the log stores 64-bit xid8. Widening must work on both sides of an
  // epoch boundary, or a reader's bound would be off by 2^32 (stalling forever, or passing a holder).
  it('widens a 32-bit xid below xmax across an epoch boundary', () => {
    const epoch = 2n ** 32n;
    expect(widenXid(5n * epoch + 100n, 90n)).toBe(5n * epoch + 90n);
    // xmax just past the boundary, the holder's xid just before it (previous epoch).
    expect(widenXid(5n * epoch + 3n, epoch - 2n)).toBe(5n * epoch - 2n);
    // An xid at or above xmax (taken after the snapshot) does not lower the bound.
    expect(widenXid(5n * epoch + 100n, 100n)).toBe(5n * epoch + 100n);
    expect(widenXid(5n * epoch + 100n, 105n)).toBeUndefined();
    expect(widenXid(5n * epoch + 3n, 7n)).toBeUndefined();
  });
});
