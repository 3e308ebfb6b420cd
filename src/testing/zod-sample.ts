/**
 * A small generator of valid sample values from zod (v4) schemas, for the event data of generated path tests.
 * It covers the schema kinds event schemas use (object, string with length and formats, number and int with
 * bounds, boolean, enum, literal, array, record, optional, default, nullable, union, unknown); anything else is a
 * clear error naming the path. The value is parsed by the schema before it is returned, so defaults are applied
 * and a sample the schema refuses (a refinement this generator cannot see) fails loudly.
 */
import type { z } from 'zod';
import { ValidationError } from '../core/errors.js';
import { toIssues } from '../core/events/envelope.js';

interface Def {
  type: string;
  format?: string;
  shape?: Record<string, z.ZodType>;
  element?: z.ZodType;
  innerType?: z.ZodType;
  options?: z.ZodType[];
  entries?: Record<string, string | number>;
  values?: unknown[];
  in?: z.ZodType;
  checks?: Array<{ _zod: { def: { check: string; minimum?: number; maximum?: number } } }>;
}

/** Whether a sample fills in fields that have a default (with the smallest valid value) or leaves them to the default. */
interface Mode {
  defaults: 'keep' | 'minimal';
}

const def = (s: z.ZodType) => (s as unknown as { _zod: { def: Def } })._zod.def;

function sampleString(s: z.ZodType, seed: string): string {
  const f = def(s).format;
  if (f === 'uuid' || f === 'guid') return '00000000-0000-4000-8000-000000000001';
  if (f === 'datetime') return '2025-01-01T00:00:00.000Z';
  if (f === 'date') return '2025-01-01';
  if (f === 'email') return 'someone@example.com';
  if (f === 'url') return 'https://example.com/';
  const { minLength, maxLength } = s as unknown as { minLength: number | null; maxLength: number | null };
  let text = seed;
  if (minLength !== null && text.length < minLength) text = text.padEnd(minLength, 'x');
  if (maxLength !== null && text.length > maxLength) text = text.slice(0, maxLength);
  return text;
}

function sampleNumber(s: z.ZodType): number {
  const { minValue, maxValue, isInt } = s as unknown as { minValue: number | null; maxValue: number | null; isInt: boolean };
  const low = minValue !== null && Number.isFinite(minValue) ? minValue : undefined;
  const high = maxValue !== null && Number.isFinite(maxValue) ? maxValue : undefined;
  let n = low !== undefined ? (isInt ? Math.ceil(low) : low) : 1;
  // `positive()` is a bound of 0 exclusive: step inside it.
  if (low !== undefined && n <= low && !(s as z.ZodType).safeParse(n).success) n = isInt ? n + 1 : n + 0.5;
  if (high !== undefined && n > high) n = isInt ? Math.floor(high) : high;
  return n;
}

/** Two items where the bounds allow (a list of one hides the cases that need several), else the bounds. */
function arrayLength(d: Def): number {
  const bound = (check: string) => d.checks?.find((c) => c._zod.def.check === check)?._zod.def;
  const min = bound('min_length')?.minimum ?? 0;
  const max = bound('max_length')?.maximum ?? Infinity;
  return Math.min(Math.max(min, 2), max);
}

function sample(s: z.ZodType, path: string, mode: Mode): unknown {
  const d = def(s);
  switch (d.type) {
    case 'object':
      return Object.fromEntries(
        Object.entries(d.shape ?? {})
          .map(([k, v]) => [k, sample(v, path ? `${path}.${k}` : k, mode)] as const)
          .filter(([, v]) => v !== undefined),
      );
    case 'string':
      return sampleString(s, path.split('.').at(-1) || 'value');
    case 'number':
    case 'int':
      return sampleNumber(s);
    case 'boolean':
      return true;
    case 'enum':
      return Object.values(d.entries ?? {})[0];
    case 'literal':
      return d.values?.[0];
    case 'array':
      return Array.from({ length: arrayLength(d) }, (_, i) => sample(d.element!, `${path}-${i + 1}`, mode));
    case 'record':
      return {};
    case 'optional':
      return undefined;
    case 'default':
    case 'prefault':
      // Absent: the schema's parse fills in the default; or, minimal, the smallest value of the inner type.
      return mode.defaults === 'keep' ? undefined : sample(d.innerType!, path, mode);
    case 'nullable':
      return sample(d.innerType!, path, mode);
    case 'union':
      return sample(d.options![0]!, path, mode);
    case 'pipe':
      return sample(d.in!, path, mode);
    case 'unknown':
    case 'any':
      return undefined;
    default:
      throw new ValidationError('zod schema for a generated sample', [{ path: path || '(root)', message: `schema kind "${d.type}" is not supported by the sample generator; give the event data yourself` }]);
  }
}

/**
 * A valid value of `schema`, built from its shape, then parsed by it (defaults applied). `overrides` replace
 * top-level fields of an object schema before the parse. `defaults: 'minimal'` fills fields that have a default
 * with the smallest valid value instead (e.g. a `maxAttempts` of 1, to reach what a default never does).
 *
 * @example
 * sampleOf(z.object({ taskId: z.string().min(1), priority: z.number().int().default(0) }), { taskId: 't1' });
 * // → { taskId: 't1', priority: 0 }
 */
export function sampleOf(schema: z.ZodType, overrides: Record<string, unknown> = {}, options: { defaults?: 'keep' | 'minimal' } = {}): Record<string, unknown> {
  const base = sample(schema, '', { defaults: options.defaults ?? 'keep' });
  const value = typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...base, ...overrides } : base;
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new ValidationError('generated sample', toIssues(parsed.error));
  return parsed.data as Record<string, unknown>;
}
