import { createHash } from 'node:crypto';

/**
 * The name of a prepared statement for `sql`: a hash of the text, so one name always means one text
 * (and one schema, which is part of the text) on every connection of the pool.
 */
export function statementName(sql: string): string {
  return `sagaflow_${createHash('sha1').update(sql).digest('hex').slice(0, 24)}`;
}
