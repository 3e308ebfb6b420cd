import type { Db } from '../../src/core/ports/db.js';

/**
 * How the generic plan of `sql` (what a prepared statement runs after its first executions) reads each
 * table: `[relation, node type]` for every plan node on a table, ModifyTable nodes aside. `sql` is
 * prepared with `types` as its parameter types and explained with `args` (SQL literals); nothing runs.
 */
export async function tableReads(db: Db, sql: string, types: string[], args: string[]): Promise<Array<[string, string]>> {
  return db.transaction(async (tx) => {
    await tx.query('SET LOCAL plan_cache_mode = force_generic_plan');
    await tx.query(`PREPARE plan_probe(${types.join(', ')}) AS ${sql}`);
    try {
      const { rows } = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) EXECUTE plan_probe(${args.join(', ')})`);
      const plan = rows[0]!['QUERY PLAN'];
      const reads: Array<[string, string]> = [];
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) return node.forEach(walk);
        if (node === null || typeof node !== 'object') return;
        const n = node as Record<string, unknown>;
        if (typeof n['Relation Name'] === 'string' && n['Node Type'] !== 'ModifyTable') reads.push([n['Relation Name'], String(n['Node Type'])]);
        Object.values(n).forEach(walk);
      };
      walk(typeof plan === 'string' ? JSON.parse(plan) : plan);
      return reads;
    } finally {
      await tx.query('DEALLOCATE plan_probe');
    }
  });
}
