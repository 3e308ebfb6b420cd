import { ConfigError } from '../core/errors.js';

const identifier = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Checks a schema name against an allow-list pattern and returns it quoted. This is the only place
 * an identifier enters SQL text; values always go as `$n` parameters.
 */
export function quoteSchema(name: string): string {
  if (!identifier.test(name)) {
    throw new ConfigError(`schema name "${name}" is not accepted: use lower-case letters, digits and _ (at most 63, not starting with a digit)`, {
      key: 'schema',
      value: name,
    });
  }
  return `"${name}"`;
}
