import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '../../src/core/ids.js';
import type { Daemon } from '../../src/daemon/daemon.js';
import { hasPostgres } from '../support/services.js';
import { openTestDaemon } from '../support/test-daemon.js';
import { OrderSaga } from '../support/test-saga.js';

/**
 * Hostile input through the daemon's HTTP API on a real database: a generated corpus of every class of
 * input Postgres cannot store (NUL, unpaired surrogates, non-finite numbers, hostile nesting, out-of-range
 * cursors), in every place it can arrive (body fields, keys, metadata, stream id, path and query
 * parameters), plus bodies of the wrong content type and a reused event id with other content. Every
 * response must be a 4xx naming the field, never a 5xx, and nothing of it may be stored.
 */

const badStrings: Array<[string, string]> = [
  ['NUL', 'a\u0000b'],
  ['NUL alone', '\u0000'],
  ['unpaired high surrogate', 'x\ud800'],
  ['unpaired low surrogate', '\udc00y'],
  ['reversed pair', '\udc00\ud800'],
];

/** Publish bodies (as JSON text, so that numbers JSON cannot express can be sent) and the field a 400 must name. */
function publishCorpus(): Array<{ name: string; body: string; field: string }> {
  const out: Array<{ name: string; body: string; field: string }> = [];
  const base = (key: string) => ({ type: 'order.noted', streamId: key, data: { orderId: key } });
  for (const [what, s] of badStrings) {
    const key = `bad-${newId()}`;
    out.push({ name: `${what} in a data string`, body: JSON.stringify({ ...base(key), data: { orderId: key, note: s } }), field: 'data.note' });
    out.push({ name: `${what} deep in data`, body: JSON.stringify({ ...base(key), data: { orderId: key, a: { b: [1, { c: s }] } } }), field: 'data.a.b[1].c' });
    out.push({ name: `${what} in a data key`, body: JSON.stringify({ ...base(key), data: { orderId: key, [`k${s}`]: 1 } }), field: 'data' });
    out.push({ name: `${what} in a metadata value`, body: JSON.stringify({ ...base(key), metadata: { correlationId: `c${s}` } }), field: 'metadata.correlationId' });
    out.push({ name: `${what} in a metadata key`, body: JSON.stringify({ ...base(key), metadata: { [`m${s}`]: 'v' } }), field: 'metadata' });
    out.push({ name: `${what} in the stream id`, body: JSON.stringify({ ...base(key), streamId: `s${s}` }), field: 'streamId' });
  }
  for (const n of ['1e309', '-1e309', '[1, 2e400]']) {
    const key = `num-${newId()}`;
    out.push({ name: `number ${n}`, body: `{"type":"order.noted","streamId":"${key}","data":{"orderId":"${key}","n":${n}}}`, field: 'data.n' });
  }
  const key = `deep-${newId()}`;
  out.push({ name: 'data nested 500 levels', body: `{"type":"order.noted","streamId":"${key}","data":{"orderId":"${key}","x":${'['.repeat(500)}${']'.repeat(500)}}}`, field: 'data.x' });
  return out;
}

interface Reply {
  status: number;
  body: { code?: string; message?: string; details?: { issues?: Array<{ path: string; message: string }> } };
}

function call(base: string, token: string, method: string, url: string, options: { body?: string; contentType?: string | null; chunked?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'x-sagaflow-reason': 'bad input test' };
    if (options.contentType !== null) headers['content-type'] = options.contentType ?? 'application/json';
    if (options.body !== undefined && !options.chunked) headers['content-length'] = String(Buffer.byteLength(options.body));
    // A raw path: node's URL parsing would normalise the percent-encoding we want to send.
    const req = request(`${base}${url}`, { method, headers }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Reply['body']) : {} }));
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

function badInputSuite(name: string, open: () => Promise<{ daemon: Daemon; token: string; dispose: () => Promise<void> }>): void {
  describe(`bad input through the HTTP API: ${name}`, () => {
    let daemon: Daemon;
    let token: string;
    let dispose: () => Promise<void>;
    beforeAll(async () => {
      ({ daemon, token, dispose } = await open());
    });
    afterAll(() => dispose());

    const storedCount = async () => (await daemon.engine.store.query({ limit: 10_000 })).length;

    it('refuses every unstorable value of the corpus with a 400 naming its field, and stores none of it', async () => {
      const before = await storedCount();
      const corpus = publishCorpus();
      const answers = [];
      for (const c of corpus) answers.push({ c, r: await call(daemon.url, token, 'POST', '/v1/events', { body: c.body }) });
      const wrong = answers.filter(({ r }) => r.status !== 400);
      expect(wrong.map(({ c, r }) => `${c.name}: ${r.status} ${r.body.message}`)).toEqual([]);
      for (const { c, r } of answers) {
        expect(r.body.code, c.name).toBe('VALIDATION');
        // The field itself, or (for a bad key) the key under it.
        const paths = r.body.details?.issues?.map((i) => i.path) ?? [];
        expect(paths.some((p) => p === c.field || p.startsWith(`${c.field}[`)), `${c.name}: ${paths.join(', ')}`).toBe(true);
      }
      expect(await storedCount()).toBe(before);
    });

    it('refuses unstorable path and query parameters and out-of-range cursors with a 400, never a 5xx', async () => {
      const urls = [
        '/v1/sagas/Order/a%00b', '/v1/sagas/Or%00der/k', '/v1/sagas/Order/a%00b/history', '/v1/sagas/Order/a%00b/why',
        '/v1/dead-letters/%00', '/v1/sagas/Order/%ED%A0%80', '/v1/events?stream=a%00b', '/v1/events?type=task.%00',
        '/v1/events?after=18446744073709551616.9223372036854775808', '/v1/events?after=18446744073709551615.9223372036854775808',
        '/v1/events?after=99999999999999999999.1', '/v1/sagas?saga=Order%00', '/v1/dead-letters?saga=%00',
      ];
      const answers = await Promise.all(urls.map(async (u) => ({ u, r: await call(daemon.url, token, 'GET', u) })));
      expect(answers.filter(({ r }) => r.status !== 400).map(({ u, r }) => `${u}: ${r.status} ${r.body.message}`)).toEqual([]);
      for (const { u, r } of answers) expect(r.body.details?.issues?.length ?? 0, u).toBeGreaterThan(0);
      // The largest valid cursor is accepted.
      expect((await call(daemon.url, token, 'GET', '/v1/events?after=18446744073709551615.9223372036854775807')).status).toBe(200);
    });

    it('requires application/json for every body, chunked or not', async () => {
      const body = JSON.stringify({ type: 'order.noted', data: { orderId: `ct-${newId()}` } });
      const before = await storedCount();
      for (const options of [
        { body, contentType: 'text/plain', chunked: true },
        { body, contentType: null, chunked: true },
        { body, contentType: 'text/plain' },
        { body, contentType: null },
      ]) {
        const r = await call(daemon.url, token, 'POST', '/v1/events', options);
        expect([r.status, r.body.code], JSON.stringify({ ...options, body: undefined })).toEqual([415, 'UNSUPPORTED_MEDIA_TYPE']);
      }
      expect(await storedCount()).toBe(before);
      expect((await call(daemon.url, token, 'POST', '/v1/events', { body, chunked: true })).status).toBe(201);
    });

    it('caps a page of events by bytes (4 MiB); the cursor continues where it stopped', async () => {
      const stream = `big-${newId()}`;
      const big = 'x'.repeat(200_000);
      for (let i = 0; i < 30; i++) {
        const r = await call(daemon.url, token, 'POST', '/v1/events', { body: JSON.stringify({ type: 'order.echo', streamId: stream, data: { orderId: stream, text: `${i}${big}` } }) });
        expect(r.status).toBe(201);
      }
      type Page = { events: Array<{ id: string; data: { text: string } }>; next?: string; truncated?: boolean };
      const newest = await call(daemon.url, token, 'GET', `/v1/events?stream=${stream}&limit=10000`);
      const page = newest.body as unknown as Page;
      expect(newest.status).toBe(200);
      expect(page.events.length).toBeGreaterThan(10);
      expect(page.events.length).toBeLessThan(30);
      expect(page.events.at(-1)!.data.text.startsWith('29')).toBe(true); // the newest ones
      const seen: string[] = [];
      let after = '0.0';
      let truncatedPages = 0;
      // A gap-free read stops below a transaction still appending (the saga's steps emit order.echoed): a page
      // that is not truncated may end before the last event; the cursor goes on from there either way.
      for (let i = 0; i < 50 && seen.length < 30; i++) {
        const r = await call(daemon.url, token, 'GET', `/v1/events?stream=${stream}&after=${after}&limit=10000`);
        const p = r.body as unknown as Page;
        expect(r.status).toBe(200);
        seen.push(...p.events.map((e) => e.data.text.slice(0, 2)));
        if (p.truncated) {
          truncatedPages++;
          expect(p.events.length).toBeLessThan(30);
        } else {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        after = p.next ?? after;
      }
      expect(truncatedPages).toBeGreaterThan(0);
      expect(seen).toEqual(Array.from({ length: 30 }, (_, i) => `${i}${big}`.slice(0, 2)));
    });

    it('an event id used again with other content is a 409 naming the id; the same content is an idempotent 201', async () => {
      const id = crypto.randomUUID();
      const key = `reuse-${newId()}`;
      const first = JSON.stringify({ id, type: 'order.noted', streamId: key, data: { orderId: key } });
      expect((await call(daemon.url, token, 'POST', '/v1/events', { body: first })).status).toBe(201);
      expect((await call(daemon.url, token, 'POST', '/v1/events', { body: first })).status).toBe(201);
      const other = await call(daemon.url, token, 'POST', '/v1/events', { body: JSON.stringify({ id, type: 'order.noted', streamId: key, data: { orderId: key, poison: true } }) });
      expect(other.status).toBe(409);
      expect(other.body.message).toContain(id);
      expect(other.body.message).toContain('data');
      const stored = await daemon.engine.store.query({ streamIds: [key], limit: 10 });
      expect(stored.map((e) => [e.id, e.data])).toEqual([[id, { orderId: key }]]);
    });
  });
}

const openDaemon = (store: 'pglite' | 'postgres') => openTestDaemon(store, { name: 'bad_input', sagas: [OrderSaga] });

badInputSuite('PGlite', () => openDaemon('pglite'));
describe.runIf(hasPostgres())('real Postgres', () => {
  badInputSuite('Postgres', () => openDaemon('postgres'));
});
