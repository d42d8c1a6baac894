import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/logger.js';
import { mapError } from '../../src/server/errorMapper.js';
import { controlBodySchema, launchBodySchema, parseInteger, parseStatuses, readJsonBody, respondBodySchema } from '../../src/server/requestBodies.js';
import { isThreadStatus } from '../../src/thread/state.js';

/** A server with one route that reads a body with `schema`, errors mapped as the HTTP surface maps them. */
function bodyServer(): Hono {
  const app = new Hono();
  app.post('/launch', async (c) => c.json({ body: await readJsonBody(c, launchBodySchema) }));
  app.post('/control', async (c) => c.json({ body: await readJsonBody(c, controlBodySchema, {}) }));
  app.post('/respond', async (c) => c.json({ body: await readJsonBody(c, respondBodySchema) }));
  app.onError((error, c) => {
    const { status, body } = mapError(error, silentLogger());
    return c.json(body, status);
  });
  return app;
}

/** The JSON value of `text`, or undefined when it is not JSON. */
function parsedOrUndefined(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

const launchLike = fc.record(
  {
    agent: fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })),
    input: fc.jsonValue({ maxDepth: 2 }),
    threadId: fc.oneof(fc.stringMatching(/^[A-Za-z0-9_:-]{1,128}$/), fc.string({ maxLength: 10 })),
    callbackUrl: fc.oneof(fc.webUrl(), fc.string({ maxLength: 20 })),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);
const respondLike = fc.record(
  {
    requestId: fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })),
    approved: fc.oneof(fc.boolean(), fc.jsonValue({ maxDepth: 1 })),
    answer: fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })),
    comment: fc.jsonValue({ maxDepth: 1 }),
    by: fc.oneof(fc.string({ maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })),
  },
  { requiredKeys: [] },
);
const controlLike = fc.record(
  { reason: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('x'.repeat(2001)), fc.jsonValue({ maxDepth: 1 })), by: fc.oneof(fc.string({ maxLength: 10 }), fc.constant('x'.repeat(201)), fc.jsonValue({ maxDepth: 1 })) },
  { requiredKeys: [] },
);
const bodyText = fc.oneof(
  launchLike.map((b) => JSON.stringify(b)),
  fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('', '   ', '{', '{"agent":"a","input":1}', '{"reason":"r"}', 'null', '[]'),
);
const contentType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/merge-patch+json', 'text/plain', '', 'application/jsonx');

describe('HTTP request bodies (property)', () => {
  it('any body and content type is answered 200, 400 or 415 with a message, never 500; 200 exactly when the schema takes it', async () => {
    const app = bodyServer();
    await fc.assert(
      fc.asyncProperty(bodyText, contentType, fc.constantFrom('/launch', '/control'), async (text, type, path) => {
        const response = await app.request(path, { method: 'POST', body: text, headers: type === '' ? {} : { 'content-type': type } });
        const json = (await response.json()) as { error?: unknown };
        expect([200, 400, 415]).toContain(response.status);
        if (response.status !== 200) expect(typeof json.error).toBe('string');
        const isJsonType = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i.test(type);
        if (text.trim() !== '' && !isJsonType) expect(response.status).toBe(415);
        if (text.trim() !== '' && !isJsonType) return;
        const schema = path === '/launch' ? launchBodySchema : controlBodySchema;
        const value = text.trim() === '' ? (path === '/control' ? {} : undefined) : parsedOrUndefined(text);
        expect(response.status === 200).toBe(value !== undefined && schema.safeParse(value).success);
      }),
      { numRuns: 200, seed: 51 },
    );
  });

  it('a 400 for a bad body names each field once: `field: what is wrong`, never `field: field ...`', async () => {
    const app = bodyServer();
    const routes = { '/launch': launchLike, '/respond': respondLike, '/control': controlLike } as const;
    const routeAndBody = fc.constantFrom(...(Object.keys(routes) as (keyof typeof routes)[])).chain((path) => routes[path].map((body) => [path, body] as const));
    await fc.assert(
      fc.asyncProperty(routeAndBody, async ([path, body]) => {
        const response = await app.request(path, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
        if (response.status === 200) return;
        expect(response.status).toBe(400);
        const { issues } = (await response.json()) as { issues: string[] };
        expect(issues.length).toBeGreaterThan(0);
        for (const issue of issues) {
          const [, field, message] = /^([^:]+): (.*)$/s.exec(issue) ?? [];
          expect(field, issue).toBeDefined();
          expect(message!.startsWith(field!) || message!.startsWith(`"${field}"`), issue).toBe(false);
        }
      }),
      { numRuns: 300, seed: 55 },
    );
  });

  it('parseInteger reads back every integer from 0 to max, with or without spaces around it', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.constantFrom('', ' ', '\t'), (a, b, pad) => {
        const [n, max] = a <= b ? [a, b] : [b, a];
        expect(parseInteger(`${pad}${n}${pad}`, 7, max)).toBe(n);
        if (max < Number.MAX_SAFE_INTEGER) expect(parseInteger(String(max + 1), 7, max)).toBeUndefined();
      }),
      { numRuns: 300, seed: 52 },
    );
  });

  it('parseInteger on any string: the fallback when empty, else an integer within range or undefined', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 20 }), fc.stringMatching(/^-?[0-9eE.+x_ ]{1,20}$/)), fc.nat(1_000_000), (raw, max) => {
        const value = parseInteger(raw, -1, max);
        if (raw === '') expect(value).toBe(-1);
        else if (value !== undefined) {
          expect(Number.isSafeInteger(value)).toBe(true);
          expect(value).toBeGreaterThanOrEqual(0);
          expect(value).toBeLessThanOrEqual(max);
          expect(raw.trim()).toMatch(/^\d+$/);
          expect(value).toBe(Number(raw.trim()));
        }
      }),
      { numRuns: 300, seed: 53 },
    );
  });

  it('parseStatuses splits every value into statuses and unknown ones, losing none', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constantFrom('running', 'done', 'failed', 'awaiting_human', ' done ', ',', ''), fc.string({ maxLength: 12 })), { maxLength: 5 }), (raw) => {
        const { statuses, unknown } = parseStatuses(raw);
        const values = raw.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
        expect(statuses.every(isThreadStatus)).toBe(true);
        expect(unknown.some(isThreadStatus)).toBe(false);
        expect([...statuses, ...unknown].sort()).toEqual([...values].sort());
      }),
      { numRuns: 200, seed: 54 },
    );
  });
});

describe('HTTP request bodies: bytes', () => {
  it('refuses a body that is not UTF-8 (400) or is compressed (415), rather than reading replacement characters or gzip bytes as JSON', async () => {
    const app = bodyServer();
    const json = { 'content-type': 'application/json' };
    // "a", then FF FE (never UTF-8), then "b" inside the input string.
    const notUtf8 = Buffer.concat([Buffer.from('{"agent":"a","input":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('b"}')]);
    const refused = await app.request('/launch', { method: 'POST', headers: json, body: notUtf8 });
    expect({ status: refused.status, body: (await refused.json()) as unknown }).toEqual({ status: 400, body: { error: 'body is not valid UTF-8', code: 'bad_request' } });
    const gzipped = await app.request('/launch', { method: 'POST', headers: { ...json, 'content-encoding': 'gzip' }, body: gzipSync('{"agent":"a","input":1}') });
    expect({ status: gzipped.status, body: (await gzipped.json()) as unknown }).toEqual({ status: 415, body: { error: 'the body must be sent without Content-Encoding (got gzip)', code: 'unsupported_media_type' } });
    // A byte order mark is dropped, as JSON readers do.
    const bom = await app.request('/launch', { method: 'POST', headers: json, body: Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"agent":"a","input":1}')]) });
    expect(await bom.json()).toEqual({ body: { agent: 'a', input: 1 } });
  });
});

describe('a launch\'s callbackUrl', () => {
  it('is refused when it names port 0, which no receiver can listen on (it would be retried for 13 minutes, then given up)', () => {
    const parsed = launchBodySchema.safeParse({ agent: 'a', input: 1, callbackUrl: 'http://127.0.0.1:0/hook' });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual(['callbackUrl: must name a port from 1 to 65535 (no receiver listens on port 0)']);
    expect(launchBodySchema.safeParse({ agent: 'a', input: 1, callbackUrl: 'http://127.0.0.1:8080/hook' }).success).toBe(true);
    expect(launchBodySchema.safeParse({ agent: 'a', input: 1, callbackUrl: 'https://example.com/hook' }).success).toBe(true);
  });
});
