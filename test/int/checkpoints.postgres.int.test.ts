import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresCheckpoints } from '../../src/postgres/checkpoints.js';
import { pgliteTestDb, type TestDb } from '../support/postgres.js';

describe('PostgresCheckpoints (PGlite)', () => {
  let t: TestDb;
  beforeAll(async () => (t = await pgliteTestDb()));
  afterAll(() => t.dispose());

  it('loads what was saved, survives a new instance, and overwrites', async () => {
    const a = new PostgresCheckpoints(t.db, { schema: t.schema });
    expect(await a.load('relay')).toBeUndefined();
    await a.save('relay', '10.5');
    const b = new PostgresCheckpoints(t.db, { schema: t.schema });
    expect(await b.load('relay')).toBe('10.5');
    await b.save('relay', '11.7');
    expect(await a.load('relay')).toBe('11.7');
    expect(await a.load('other')).toBeUndefined();
  });
});
