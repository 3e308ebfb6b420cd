import type { IncomingHttpHeaders } from 'node:http';

/** The header carrying a mutating call's reason, percent-encoded (header values are ASCII; `encodeURIComponent`). */
export const REASON_HEADER = 'x-sagaflow-reason';

/** The longest reason kept. */
export const MAX_REASON_CHARS = 2000;

/**
 * The reason of a request: the `X-Sagaflow-Reason` header (percent-decoded when it is valid percent-encoding,
 * as given otherwise), else `fromBody` (routes whose body carries a `reason`); trimmed, undefined when blank.
 */
export function reasonOf(headers: IncomingHttpHeaders, fromBody?: unknown): string | undefined {
  const raw = headers[REASON_HEADER];
  let text = typeof raw === 'string' ? raw : typeof fromBody === 'string' ? fromBody : '';
  if (typeof raw === 'string') {
    try {
      text = decodeURIComponent(raw);
    } catch {
      // not percent-encoding: the text as given ("100% sure")
    }
  }
  text = text.trim();
  return text ? text.slice(0, MAX_REASON_CHARS) : undefined;
}
