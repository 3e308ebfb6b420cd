import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgliteDb } from '../../src/postgres/pglite-db.js';

/**
 * PGlite runs named statements as `PREPARE` once and `EXECUTE` with the parameters as literals. These prove
 * the named path returns what the unnamed one does, for every kind of parameter the stores pass, and that a
 * statement prepared in a transaction that rolled back still runs.
 */
describe('PGlite prepared statements', () => {
  let db: PgliteDb;
  beforeAll(async () => {
    db = await PgliteDb.open();
    await db.exec('CREATE TABLE kv (k text PRIMARY KEY, v jsonb, n bigint, at timestamptz, tags text[], id uuid, ok boolean)');
  });
  afterAll(() => db.close());

  const sql = `SELECT $1::text AS t, $2::jsonb AS j, $3::bigint AS b, $4::timestamptz AS at, $5::text[] AS a, $6::uuid AS u, $7::boolean AS ok, $8::int AS nothing, $9::jsonb AS ja`;
  const params = [
    `it's "quoted" \\ and ünïcode`, JSON.stringify({ a: [1, 'x\'y'] }), 9007199254740991, new Date('2026-12-05T10:00:00.000Z'),
    ['a', 'b"c', 'd\\e', "f'g", null], '3b8e5f4a-2c1d-4e6f-9a7b-5d0c8e1f2a93', true, null, [1, { b: 2 }],
  ];

  it('returns what the unnamed statement returns, for text, JSON, numbers, times, arrays, ids, booleans and NULL', async () => {
    const unnamed = await db.query(sql, params);
    const named = await db.query(sql, params, { name: 'probe_types' });
    expect(named.rows).toEqual(unnamed.rows);
    expect(named.rows[0]).toMatchObject({ t: params[0], j: { a: [1, "x'y"] }, a: ['a', 'b"c', 'd\\e', "f'g", null], ok: true, nothing: null, ja: [1, { b: 2 }] });
    // Run again: the prepared statement is reused.
    expect((await db.query(sql, params, { name: 'probe_types' })).rows).toEqual(unnamed.rows);
  });

  it('reports affected rows of a write as the unnamed statement does', async () => {
    const insert = 'INSERT INTO kv (k, v) VALUES ($1, $2::jsonb) ON CONFLICT (k) DO NOTHING';
    expect((await db.query(insert, ['one', '{}'], { name: 'probe_insert' })).rowCount).toBe(1);
    expect((await db.query(insert, ['one', '{}'], { name: 'probe_insert' })).rowCount).toBe(0);
  });

  it('runs a statement prepared in a transaction that rolled back', async () => {
    const select = 'SELECT v FROM kv WHERE k = $1';
    await expect(db.transaction(async (tx) => {
      await tx.query(select, ['one'], { name: 'probe_rollback' });
      throw new Error('roll back');
    })).rejects.toThrow('roll back');
    expect((await db.query(select, ['one'], { name: 'probe_rollback' })).rows).toEqual([{ v: {} }]);
  });

  it('refuses a NUL character in a parameter instead of cutting the statement short', async () => {
    await expect(db.query('SELECT $1::text AS t', ['a\u0000b'], { name: 'probe_nul' })).rejects.toThrow(/NUL/);
  });
});
