import type { ValidationIssue } from '../errors.js';

/** How deep a value may nest (objects and arrays): deeper input is refused before anything recurses into it. */
export const MAX_JSON_DEPTH = 64;

// A NUL character, or a UTF-16 surrogate without its pair: neither can be stored in Postgres text or jsonb.
// eslint-disable-next-line no-control-regex -- matching NUL is the point
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `s` cannot be stored as Postgres text or jsonb, or undefined when it can. */
export function unstorableString(s: string): string | undefined {
  const m = UNSTORABLE.exec(s);
  if (!m) return undefined;
  return m[0] === '\u0000' ? 'contains a NUL character (\\u0000)' : `contains an unpaired UTF-16 surrogate (\\u${m[0].charCodeAt(0).toString(16)})`;
}

const key = (path: string, k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? (path ? `${path}.${k}` : k) : `${path}[${JSON.stringify(k)}]`);

/**
 * The places in a JSON-like value that Postgres cannot store faithfully — a NUL or an unpaired surrogate in
 * a string or a key, a number that is not finite (JSON has none: `1e309` parses to Infinity, which would be
 * stored as null) — and nesting deeper than {@link MAX_JSON_DEPTH}. Iterative, so hostile nesting cannot
 * overflow the stack. Returns at most `max` issues, each naming its path.
 */
export function unstorableIssues(value: unknown, path = '', max = 5): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path, depth: 0 }];
  while (stack.length > 0 && issues.length < max) {
    const { v, path: p, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const why = unstorableString(v);
      if (why) issues.push({ path: p, message: why });
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) issues.push({ path: p, message: `must be a finite number, got ${String(v)}` });
    } else if (v !== null && typeof v === 'object') {
      if (depth >= MAX_JSON_DEPTH) {
        issues.push({ path: p, message: `nests deeper than ${MAX_JSON_DEPTH} levels` });
        continue;
      }
      if (Array.isArray(v)) {
        for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${p}[${i}]`, depth: depth + 1 });
      } else {
        const entries = Object.entries(v as Record<string, unknown>);
        for (let i = entries.length - 1; i >= 0; i--) {
          const [k, child] = entries[i]!;
          const at = key(p, k);
          const why = unstorableString(k);
          if (why) issues.push({ path: at, message: `key ${why}` });
          stack.push({ v: child, path: at, depth: depth + 1 });
        }
      }
    }
  }
  return issues.slice(0, max);
}
