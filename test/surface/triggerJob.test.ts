import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJson } from '../../src/bus/busMessage.js';
import { formatIssues } from '../../src/errors.js';
import { launchBodySchema } from '../../src/server/requestBodies.js';
import { readContinuation } from '../../src/surface/continuationJob.js';
import { HANDED_BACK_ROOM } from '../../src/surface/payloads.js';
import { REPLY_TO_HEADER, TRIGGER_ID_HEADER } from '../../src/surface/subjects.js';
import { readTrigger } from '../../src/surface/triggerJob.js';

const encoder = new TextEncoder();
const LIMIT = 4_096;

/** A job as the queue hands it over: bytes, headers, and its JSON parsed on demand. */
function jobOf(data: Uint8Array, headers: Record<string, string> = {}): { data: Uint8Array; headers: Record<string, string>; json: () => ReturnType<typeof parseJson> } {
  return { data, headers, json: () => parseJson(data) };
}
const jsonJob = (value: unknown, headers: Record<string, string> = {}) => jobOf(encoder.encode(JSON.stringify(value)), headers);

/** A subject one can publish to: non-empty tokens, none a wildcard, no whitespace. */
const isPublishSubject = (s: string): boolean => !/\s/.test(s) && s.split('.').every((token) => token !== '' && token !== '*' && token !== '>');
const subject = fc.stringMatching(/^[a-z][a-z0-9]{0,8}(\.[a-z0-9]{1,8}){0,3}$/);
const headers = fc.dictionary(fc.constantFrom(REPLY_TO_HEADER, 'Nats-Msg-Id', 'x'), fc.oneof(subject, fc.string(), fc.constantFrom('a.*', 'a.>', '>', '', 'a b', 'a..b', '.a', 'a.')));

describe('readTrigger: a trigger job from outside', () => {
  it('never throws on any bytes and headers, and a refusal always says why', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), headers, (data, h) => {
        const read = readTrigger(jobOf(data, h), 'calc', LIMIT);
        if (!read.ok) expect(read.error.length).toBeGreaterThan(0);
        if (read.replyTo !== undefined) expect(isPublishSubject(read.replyTo)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('accepts any JSON input, and replies to the payload replyTo or the header, whichever it names (both: the same one)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.option(subject, { nil: undefined }), fc.option(subject, { nil: undefined }), fc.boolean(), (input, replyTo, header, same) => {
        const headerReply = same && replyTo !== undefined && header !== undefined ? replyTo : header;
        const read = readTrigger(jsonJob({ input, ...(replyTo === undefined ? {} : { replyTo }) }, headerReply === undefined ? {} : { [REPLY_TO_HEADER]: headerReply }), 'calc', 1 << 20);
        if (replyTo !== undefined && headerReply !== undefined && replyTo !== headerReply) return;
        expect(read.ok).toBe(true);
        if (!read.ok) return;
        expect(read.payload.input).toEqual(JSON.parse(JSON.stringify(input)));
        expect(read.replyTo).toBe(replyTo ?? headerReply);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses a payload replyTo and a Switchyard-Reply-To header that name two subjects, naming both (its error goes to the payload one)', () => {
    const read = readTrigger(jsonJob({ input: 1, replyTo: 'app.a' }, { [REPLY_TO_HEADER]: 'app.b' }), 'calc', LIMIT);
    expect(read).toEqual({
      ok: false,
      replyTo: 'app.a',
      code: 'bad_request',
      error: 'the trigger names two reply subjects: replyTo app.a and header Switchyard-Reply-To app.b; give one, or the same in both',
    });
  });

  it("takes a copy a stopping worker handed back (it names its original trigger) up to the room its thread id adds, and no more", () => {
    const ofBytes = (bytes: number, h: Record<string, string> = {}) => {
      const job = jsonJob({ input: 'x'.repeat(bytes - '{"input":""}'.length) }, h);
      expect(job.data.length).toBe(bytes);
      return readTrigger(job, 'calc', LIMIT);
    };
    const copy = { [TRIGGER_ID_HEADER]: 'b1' };
    expect(ofBytes(LIMIT).ok).toBe(true);
    expect(ofBytes(LIMIT + 1).ok).toBe(false);
    expect(ofBytes(LIMIT + HANDED_BACK_ROOM, copy).ok).toBe(true);
    expect(ofBytes(LIMIT + HANDED_BACK_ROOM + 1, copy)).toMatchObject({ ok: false, error: expect.stringMatching(/the limit is 4096/) });
    // The room is the longest thread id's: `,"threadId":"<128 characters>"`.
    expect(JSON.stringify({ input: '', threadId: 'i'.repeat(128) }).length - JSON.stringify({ input: '' }).length).toBe(HANDED_BACK_ROOM);
  });

  it('refuses what is too large, not JSON, or not a trigger, replying where the sender asked when it can', () => {
    const big = readTrigger(jsonJob({ input: 'x'.repeat(LIMIT) }, { [REPLY_TO_HEADER]: 'my.results' }), 'calc', LIMIT);
    expect(big).toMatchObject({ ok: false, replyTo: 'my.results' });
    expect(!big.ok && big.error).toMatch(/bytes; the limit is 4096/);

    // Too large, yet the body says where to reply: there, before the header.
    expect(readTrigger(jsonJob({ input: 'x'.repeat(LIMIT), replyTo: 'their.results' }, { [REPLY_TO_HEADER]: 'my.results' }), 'calc', LIMIT)).toMatchObject({ ok: false, replyTo: 'their.results' });
    expect(readTrigger(jsonJob({ input: 'x'.repeat(LIMIT), replyTo: 'their.results' }), 'calc', LIMIT)).toMatchObject({ ok: false, replyTo: 'their.results', error: expect.stringMatching(/the limit is 4096/) });
    // Too large and garbage (or a replyTo that is no subject, or one only inside the input): the header, if any.
    expect(readTrigger(jobOf(encoder.encode(`{"replyTo":"their.results","input":"${'x'.repeat(LIMIT)}`)), 'calc', LIMIT)).toMatchObject({ ok: false, replyTo: undefined });
    expect(readTrigger(jsonJob({ input: { replyTo: 'inner.results', x: 'x'.repeat(LIMIT) } }), 'calc', LIMIT)).toMatchObject({ ok: false, replyTo: undefined });
    expect(readTrigger(jsonJob({ input: 'x'.repeat(LIMIT), replyTo: 'a.>' }, { [REPLY_TO_HEADER]: 'my.results' }), 'calc', LIMIT)).toMatchObject({ ok: false, replyTo: 'my.results' });

    // No input: the words of an HTTP launch without one.
    const noInput = readTrigger(jsonJob({ replyTo: 'their.results' }), 'calc', LIMIT);
    const http = launchBodySchema.safeParse({ agent: 'calc' });
    expect(http.success).toBe(false);
    expect(noInput).toMatchObject({ ok: false, replyTo: 'their.results', issues: ['input: is required (any JSON value)'] });
    expect(!noInput.ok && noInput.issues).toEqual(formatIssues(http.error!.issues));

    const notJson = readTrigger(jobOf(encoder.encode('{"input":'), { [REPLY_TO_HEADER]: 'my.results' }), 'calc', LIMIT);
    expect(notJson).toMatchObject({ ok: false, replyTo: 'my.results' });
    expect(!notJson.ok && notJson.error).toMatch(/not JSON/);

    const unknownKey = readTrigger(jsonJob({ input: 1, replyTo: 'their.results', extra: true }), 'calc', LIMIT);
    expect(unknownKey).toMatchObject({ ok: false, replyTo: 'their.results', error: 'invalid trigger for calc' });
    expect(!unknownKey.ok && unknownKey.issues?.join(' ')).toMatch(/extra/);
  });

  it('refuses a reply header with a wildcard, answering on the payload replyTo instead', () => {
    const read = readTrigger(jsonJob({ input: 1, replyTo: 'ok.results' }, { [REPLY_TO_HEADER]: 'bad.>' }), 'calc', LIMIT);
    expect(read).toMatchObject({ ok: false, replyTo: 'ok.results' });
    expect(!read.ok && read.error).toMatch(new RegExp(`header ${REPLY_TO_HEADER}`));
  });

  it('refuses a reply header that is one of NATS\'s own subjects, naming that rule', () => {
    const read = readTrigger(jsonJob({ input: 1, replyTo: 'ok.results' }, { [REPLY_TO_HEADER]: '$JS.API.STREAM.PURGE.switchyard_calc' }), 'calc', LIMIT);
    expect(read).toMatchObject({ ok: false, replyTo: 'ok.results' });
    // Every rule it may have broken, the one it broke among them.
    expect(!read.ok && read.error).toMatch(new RegExp(`^header ${REPLY_TO_HEADER} .*wildcards.*512 characters.*not starting with \\$`));
  });
});

describe('readContinuation: a continuation job', () => {
  it('never throws on any bytes, and reads back every valid job', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (data) => {
        const read = readContinuation(jobOf(data), LIMIT);
        if (!read.ok) expect(read.reason.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,30}$/), fc.option(fc.nat(), { nil: undefined }), (threadId, after) => {
        const payload = { threadId, ...(after === undefined ? {} : { after }) };
        expect(readContinuation(jsonJob(payload), LIMIT)).toEqual({ ok: true, payload });
      }),
      { numRuns: 200 },
    );
  });

  it('names what is wrong with a job it refuses', () => {
    expect(readContinuation(jsonJob({ threadId: 't1', after: -1 }), LIMIT)).toMatchObject({ ok: false, reason: expect.stringMatching(/^invalid job: .*after/) });
    expect(readContinuation(jobOf(new Uint8Array()), LIMIT)).toEqual({ ok: false, reason: 'job payload is not JSON' });
    expect(readContinuation(jsonJob({ threadId: 'x'.repeat(LIMIT) }), LIMIT)).toMatchObject({ ok: false, reason: expect.stringMatching(/the limit is 4096/) });
  });
});
