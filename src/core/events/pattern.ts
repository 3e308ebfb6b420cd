/**
 * Event type patterns: `*` matches everything, a `*` segment matches exactly one segment
 * (`task.*` matches `task.created`, `*.created` matches `context.created`), anything else is exact.
 * A trailing `.>`-style "rest" is not supported on purpose: one rule, easy to reason about.
 */
export function matchesPattern(pattern: string, type: string): boolean {
  if (pattern === '*' || pattern === type) return true;
  if (!pattern.includes('*')) return false;
  const p = pattern.split('.');
  const t = type.split('.');
  if (p.length !== t.length) return false;
  return p.every((seg, i) => seg === '*' || seg === t[i]);
}

/** True when the pattern is syntactically valid (non-empty segments, `*` only as a whole segment). */
export function isValidPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  return pattern.split('.').every((seg) => seg.length > 0 && (seg === '*' || /^[a-z0-9_-]+$/i.test(seg)));
}

/** Compiles a pattern to a matcher function (patterns are matched per event on hot paths). */
export function compilePattern(pattern: string): (type: string) => boolean {
  if (pattern === '*') return () => true;
  if (!pattern.includes('*')) return (type) => type === pattern;
  return (type) => matchesPattern(pattern, type);
}

/**
 * Translates a pattern to a SQL `LIKE` pattern over the type column, escaping `%`, `_` and `\`.
 * `*` segments become `%` constrained by a separate segment-count check in SQL.
 */
export function patternToLike(pattern: string): { like: string; segments: number } {
  const escape = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);
  const segs = pattern.split('.');
  return { like: segs.map((s) => (s === '*' ? '%' : escape(s))).join('.'), segments: segs.length };
}
