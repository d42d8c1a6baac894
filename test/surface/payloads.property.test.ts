import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JsonParseResult } from '../../src/bus/bus.js';
import { controlPayloadSchema, headerReplyTo, jobPayloadSchema, replyToOf, triggerPayloadSchema } from '../../src/surface/payloads.js';
import { REPLY_TO_HEADER } from '../../src/surface/subjects.js';
import { subjectArbitrary, subjectLikeArbitrary } from '../bus/subjectArbitrary.js';

/** The rule a trigger's `replyTo` is held to: the lenient readers must not be looser. */
const replyToRule = triggerPayloadSchema.shape.replyTo;

/** What a trigger's JSON may hold: anything, or an object with a `replyTo` of any kind. */
const triggerJson: fc.Arbitrary<JsonParseResult> = fc.oneof(
  fc.constant<JsonParseResult>({ success: false, error: 'not JSON' }),
  fc.jsonValue().map((data): JsonParseResult => ({ success: true, data })),
  fc
    .record({ input: fc.jsonValue({ maxDepth: 2 }), replyTo: fc.oneof(subjectLikeArbitrary, fc.jsonValue({ maxDepth: 1 })) }, { requiredKeys: ['replyTo'] })
    .map((data): JsonParseResult => ({ success: true, data })),
);
const headersArbitrary = fc.oneof(
  fc.constant({}),
  subjectLikeArbitrary.map((value) => ({ [REPLY_TO_HEADER]: value })),
  fc.dictionary(fc.string({ maxLength: 10 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
);

describe('trigger reply subjects (property)', () => {
  it('replyToOf and headerReplyTo never throw and only return subjects a trigger payload may name', () => {
    fc.assert(
      fc.property(triggerJson, headersArbitrary, (json, headers) => {
        const fromHeader = headerReplyTo(headers);
        const replyTo = replyToOf(json, headers);
        for (const subject of [fromHeader, replyTo]) {
          if (subject !== undefined) expect(replyToRule.safeParse(subject).success).toBe(true);
        }
        // The payload's replyTo wins when it is usable; else the header's.
        const raw = json.success ? (json.data as { replyTo?: unknown } | null)?.replyTo : undefined;
        const usable = typeof raw === 'string' && replyToRule.safeParse(raw).success;
        expect(replyTo).toBe(usable ? raw : fromHeader);
      }),
      { numRuns: 300, seed: 21 },
    );
  });

  it('a valid trigger payload reads back as sent, and any other JSON gets issues, never a throw', () => {
    const payload = fc.record(
      {
        input: fc.jsonValue({ maxDepth: 3 }),
        threadId: fc.stringMatching(/^[A-Za-z0-9_:-]{1,128}$/),
        // One of NATS's own ($JS.API...) is refused: see the test of that below.
        replyTo: subjectArbitrary.filter((s) => s.length <= 512 && !s.startsWith('$')),
      },
      { requiredKeys: ['input'] },
    );
    fc.assert(
      fc.property(payload, fc.jsonValue({ maxDepth: 3 }), (p, other) => {
        const sent = JSON.parse(JSON.stringify(p)) as unknown;
        expect(triggerPayloadSchema.safeParse(sent)).toEqual({ success: true, data: sent });
        const parsed = triggerPayloadSchema.safeParse(other);
        if (!parsed.success) expect(parsed.error.issues.length).toBeGreaterThan(0);
      }),
      { numRuns: 200, seed: 22 },
    );
  });

  it('job and control payloads: valid ones read back; a bad field is named in the issues', () => {
    const threadId = fc.stringMatching(/^[A-Za-z0-9_:-]{1,128}$/);
    const job = fc.record({ threadId, after: fc.nat(), wakeAt: fc.nat() }, { requiredKeys: ['threadId'] });
    const control = fc.record(
      { action: fc.constantFrom('pause', 'resume', 'cancel'), reason: fc.string({ maxLength: 2_000 }), by: fc.string({ maxLength: 200 }) },
      { requiredKeys: ['action'] },
    );
    const badNumber = fc.oneof(fc.integer({ max: -1 }), fc.double({ noInteger: true }), fc.string(), fc.constant(null));
    fc.assert(
      fc.property(job, control, badNumber, fc.string(), (j, c, bad, action) => {
        expect(jobPayloadSchema.parse(j)).toEqual(j);
        expect(controlPayloadSchema.parse(c)).toEqual(c);
        const badJob = jobPayloadSchema.safeParse({ ...j, after: bad });
        expect(badJob.success).toBe(false);
        expect(badJob.error?.issues.map((i) => i.path.join('.'))).toContain('after');
        if (!['pause', 'resume', 'cancel'].includes(action)) {
          const badControl = controlPayloadSchema.safeParse({ ...c, action });
          expect(badControl.error?.issues.map((i) => i.path.join('.'))).toEqual(['action']);
        }
      }),
      { numRuns: 200, seed: 23 },
    );
  });
});

describe('a trigger\'s reply subject', () => {
  it('is never one of NATS\'s own ($JS, $KV, $SYS...): a worker publishing there would act with its rights', () => {
    for (const subject of ['$JS.API.STREAM.PURGE.switchyard_calculator', '$KV.switchyard_threads.t1', '$SYS.REQ.SERVER.PING', '$JS.API.STREAM.DELETE.KV_switchyard_threads']) {
      const parsed = triggerPayloadSchema.safeParse({ input: 1, replyTo: subject });
      expect(parsed.success).toBe(false);
      expect(parsed.error?.issues[0]?.message).toMatch(/\$/);
      expect(headerReplyTo({ 'Switchyard-Reply-To': subject })).toBeUndefined();
    }
    expect(triggerPayloadSchema.safeParse({ input: 1, replyTo: 'my.results' }).success).toBe(true);
    expect(triggerPayloadSchema.safeParse({ input: 1, replyTo: '_INBOX.abc' }).success).toBe(true);
  });
});
