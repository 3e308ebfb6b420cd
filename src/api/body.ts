import type { IncomingMessage } from 'node:http';
import { PayloadTooLargeError, ValidationError } from '../core/errors.js';
import { HttpError, HttpErrorCode } from './http-errors.js';

/**
 * Reads a JSON request body, stopping at `limit` bytes (413) without buffering the rest.
 * An empty body is `{}`. Bad JSON is a 400 naming the parser's complaint. `__proto__` keys are
 * dropped by the reviver so no prototype surprises reach handlers.
 */
export async function readJsonBody(req: IncomingMessage, limit: number): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new PayloadTooLargeError('request body', declared, limit);
  const type = req.headers['content-type'];
  const json = type !== undefined && /^application\/json\b/i.test(type);
  const unsupported = () => new HttpError(415, HttpErrorCode.UnsupportedMediaType, `content-type must be application/json, got ${type ?? 'none'}`);
  if (!json && declared > 0) throw unsupported();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) throw new PayloadTooLargeError('request body', size, limit);
      chunks.push(chunk as Buffer);
    }
  } catch (err) {
    if (err instanceof PayloadTooLargeError) throw err;
    // The client hung up mid-body ('aborted', ECONNRESET): its business, not a server error.
    throw new HttpError(400, HttpErrorCode.ClientClosed, `the client closed the connection before its request body was complete (${(err as Error).message})`);
  }
  if (size === 0) return {};
  // A body without Content-Length (chunked) is held to the same rule once its first bytes arrive.
  if (!json) throw unsupported();
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text, (key, value: unknown) => (key === '__proto__' ? undefined : value));
  } catch (err) {
    throw new ValidationError('request body JSON', [{ path: '', message: (err as Error).message }]);
  }
}
