/**
 * `redactText`, what tool errors, their causes, the runtime's error lines, results, outputs, human
 * answers and every log line of a thread go through: besides the agent's secrets and the
 * secret-shaped tokens (`sk-…`, `Bearer …`), a URL's userinfo password and its secret-named query
 * values (masked as `redactUrl` masks them), and the value of a `name=value` / `name: value` pair
 * whose name says it is a secret (`apiKey=…`, `password: …`, `"token":"…"` at any depth of a JSON
 * line). Text without any of these comes back as it is (the same string).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, redactText } from '../../src/context/redact.js';

describe('redactText', () => {
  it("masks a tool error's URL password, secret query values and apiKey= pair (qa25 D3)", () => {
    const url = 'https://api.example.com/data?api_key=QRYKEY-55555&x=1';
    const cause = 'connect refused to https://user:CAUSEPW-4444@api.example.com/?token=CAUSETOK-3333 with Authorization: Bearer CAUSEBEARER-abcdefgh';
    const text = `fetch_thing failed: request to ${url} failed (auth Bearer tok_THROWN_ABCDEFGH12345, apiKey=THROWNKEY-2222): ${cause}`;
    const redacted = redactText(text);
    for (const secret of ['QRYKEY-55555', 'CAUSEPW-4444', 'CAUSETOK-3333', 'CAUSEBEARER', 'tok_THROWN', 'THROWNKEY-2222']) expect(redacted).not.toContain(secret);
    expect(redacted).toBe(
      `fetch_thing failed: request to https://api.example.com/data?api_key=***&x=*** failed (auth ${REDACTED}, apiKey=${REDACTED}): ` +
        `connect refused to https://user:***@api.example.com/?token=*** with Authorization: ${REDACTED}`,
    );
  });

  it('masks the URL and the token of the runtime\'s "agent actor failed" error (qa25 D3)', () => {
    const redacted = redactText('hook exploded: Bearer HOOKBEARER-12345678 at https://hu:HOOKPW-5151@x.example/?token=HOOKTOK-5252 key sk-PLANTEDMODELKEY1234567890abcdef');
    expect(redacted).toBe(`hook exploded: ${REDACTED} at https://hu:***@x.example/?token=*** key ${REDACTED}`);
  });

  it('masks signed and keyed query values, in a full URL or a path, and pairs in text and in JSON at any depth', () => {
    expect(redactText('GET https://b.s3.amazonaws.com/o?X-Amz-Credential=AKID-1&X-Amz-Signature=SIG-2 failed')).toBe('GET https://b.s3.amazonaws.com/o?X-Amz-Credential=***&X-Amz-Signature=*** failed');
    expect(redactText('url /v1/chat/completions?api_key=MQK-7777 refused')).toBe(`url /v1/chat/completions?api_key=${REDACTED} refused`);
    expect(redactText("password: 'Correct-Horse-9' and db_password=DBPW-lkjhg; x_api_key: XAK-112233")).toBe(`password: '${REDACTED}' and db_password=${REDACTED}; x_api_key: ${REDACTED}`);
    expect(redactText('{"a":{"b":{"authorization":"Basic dXNlcjpwYXNz","key":"K-123","client_secret":"a\\"b c"}},"n":1}')).toBe(
      `{"a":{"b":{"authorization":"${REDACTED}","key":"${REDACTED}","client_secret":"${REDACTED}"}},"n":1}`,
    );
    expect(redactText('Authorization: Basic dXNlcjpwYXNz')).toBe(`Authorization: ${REDACTED}`);
    expect(redactText('--password=hunter2 --user bob')).toBe(`--password=${REDACTED} --user bob`);
  });

  it('keeps a JSON line JSON: a number under a secret name becomes a string; an escaped JSON body in a string is masked too', () => {
    const line = JSON.stringify({ level: 40, passcode: 123456, auth: true, token: null, err: JSON.stringify({ error: { token: 'ESC-TOKEN-77', pin: 1 }, sig: 42 }) });
    const redacted = redactText(line);
    const parsed = JSON.parse(redacted) as Record<string, unknown>;
    expect(parsed).toMatchObject({ level: 40, passcode: REDACTED, auth: true, token: null });
    expect(parsed.err).toBe(`{"error":{"token":"${REDACTED}","pin":1},"sig":${REDACTED}}`);
  });

  it('keeps what only looks like one: counts, prose after a colon, error codes, idempotency keys, URLs without credentials', () => {
    for (const text of [
      'arguments for create_account are invalid: password: Too small: expected string to have >=12 characters',
      'Invalid token: the token expired',
      '{"level":30,"usage":{"promptTokens":12,"completionTokens":30},"maxTokens":100,"tokenizer":"cl100k"}',
      '{"err":{"code":"ECONNREFUSED"},"idempotencyKey":"th_1:call_2","signal":"SIGTERM","author":"ana"}',
      "connect ECONNREFUSED 127.0.0.1:4222 (code: 'ECONNREFUSED')",
      'see https://example.com/docs?page=2&sort=asc#top and https://medium.com/@alice/post',
      'the secret word is not here; auth passed; key points: one, two',
      `already ${REDACTED}: nothing more to do`,
    ]) {
      expect(redactText(text)).toBe(text);
    }
  });

  /** Safe words: none names a secret, none is secret-shaped; some have the punctuation the rules look at. */
  const safeWord = fc.oneof(
    fc.stringMatching(/^[a-z0-9]{1,12}$/),
    fc.constantFrom('count=3', 'user=alice', 'status: ok', 'maxTokens=5', 'http://127.0.0.1:8080/v1', 'https://example.com/a?page=2&q=x', 'a:b', 'note: fine', '{"n":1}', 'sk-1'),
  );
  const safeText = fc.array(safeWord, { maxLength: 20 }).chain((words) => fc.array(fc.constantFrom(' ', '\n', ', ', ' (', ') '), { minLength: words.length, maxLength: words.length }).map((seps) => words.map((w, i) => `${w}${seps[i]}`).join('')));
  /** A credential as generated: letters, digits and `-`/`_`, a digit in it, unique enough to find. */
  const credential = fc.stringMatching(/^[A-Za-z0-9_-]{6,24}$/).map((s) => `Zq9${s}`);
  const planted: readonly ((s: string) => string)[] = [
    (s) => `https://user:${s}@host.example/path`,
    (s) => `redis://:${s}@cache.internal:6379/0`,
    (s) => `https://host.example/v1?token=${s}&x=1`,
    (s) => `https://host.example/o?x=1&X-Amz-Signature=${s}`,
    (s) => `/v1/items?api_key=${s}`,
    (s) => `apiKey=${s}`,
    (s) => `password: ${s}`,
    (s) => `"client_secret":"${s}"`,
    (s) => `{"deep":{"token":"${s}"}}`,
    (s) => `api_key='${s}'`,
    (s) => `Authorization: Basic ${s}`,
    (s) => `Bearer ${s}`,
    (s) => `sk-proj${s}abcdefghijklmnop`,
    (s) => `Cookie: session=${s}; theme=dark`,
  ];

  it('leaves no planted credential in any text, wherever it stands', () => {
    fc.assert(
      fc.property(safeText, credential, fc.integer({ min: 0, max: planted.length - 1 }), safeText, (before, secret, shape, after) => {
        const text = `${before} ${planted[shape]!(secret)} ${after}`;
        expect(redactText(text)).not.toContain(secret);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps every JSON text JSON (a log line stays a line a shipper can read)', () => {
    const key = fc.oneof(fc.constantFrom('token', 'password', 'apiKey', 'X-Amz-Signature', 'auth', 'key', 'note', 'url', 'err'), fc.string({ maxLength: 8 }));
    const text = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('apiKey=AK-1 and https://u:p-2@h/?token=t3', 'password: "x y"', 'Bearer abcdefghij', '{"token":5}', 'a\\"b'));
    const value = fc.letrec<{ json: unknown }>((tie) => ({
      json: fc.oneof({ depthSize: 'small' }, text, fc.integer(), fc.boolean(), fc.constant(null), fc.array(tie('json'), { maxLength: 3 }), fc.dictionary(key, tie('json'), { maxKeys: 4 })),
    })).json;
    fc.assert(
      fc.property(fc.dictionary(key, value, { maxKeys: 6 }), (line) => {
        expect(() => JSON.parse(redactText(JSON.stringify(line)))).not.toThrow();
      }),
      { numRuns: 500 },
    );
  });

  it('gives back text without a secret as it is', () => {
    fc.assert(
      fc.property(safeText, (text) => {
        expect(redactText(text)).toBe(text);
      }),
      { numRuns: 500 },
    );
  });
});
