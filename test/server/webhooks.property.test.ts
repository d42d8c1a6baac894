import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { THREAD_ID_PATTERN } from '../../src/runtime/runtime.js';
import { hookThreadId } from '../../src/server/hooks.js';
import { signWebhook, verifyWebhookSignature } from '../../src/server/webhooks.js';

const NOW = Date.parse('2025-01-01T00:00:00.000Z');
const nowSeconds = Math.floor(NOW / 1000);
// Well-formed text: a body received over HTTP is decoded UTF-8 (lone surrogates cannot arrive).
const body = fc.string({ unit: 'grapheme', maxLength: 60 });
const secret = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 });
const tolerance = fc.integer({ min: 0, max: 600 });
/** Header values as a Node server may hand them over: a string, several, null or absent. */
const headerValue = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.stringMatching(/^sha256=[0-9a-fA-F]{60,68}$/),
  fc.integer({ min: nowSeconds - 1_000, max: nowSeconds + 1_000 }).map(String),
  fc.array(fc.string({ maxLength: 10 }), { maxLength: 2 }),
  fc.constantFrom(null, undefined, '', ' ', '1e9', '-1', '0x10'),
);

describe('webhook signatures (property)', () => {
  it('a signature made with signWebhook verifies within the tolerance and not past it', () => {
    fc.assert(
      fc.property(body, secret, tolerance, fc.integer({ min: -1_000, max: 1_000 }), (raw, key, tol, skew) => {
        const timestamp = String(nowSeconds + skew);
        const headers = { timestamp, signature: signWebhook(raw, key, timestamp) };
        expect(verifyWebhookSignature(raw, headers, key, tol, NOW)).toBe(Math.abs(skew) <= tol);
      }),
      { numRuns: 300, seed: 61 },
    );
  });

  it('a changed body, secret, timestamp or signature is refused', () => {
    fc.assert(
      fc.property(body, body, secret, secret, fc.nat(63), fc.integer({ min: 1, max: 100 }), (raw, other, key, otherKey, at, shift) => {
        const timestamp = String(nowSeconds);
        const signature = signWebhook(raw, key, timestamp);
        const verify = (b: string, h: { timestamp: string; signature: string }, k: string) => verifyWebhookSignature(b, h, k, 300, NOW);
        expect(verify(raw, { timestamp, signature: ` ${signature.toUpperCase().replace('SHA256', 'sha256')} ` }, key)).toBe(true);
        if (other !== raw) expect(verify(other, { timestamp, signature }, key)).toBe(false);
        if (otherKey !== key) expect(verify(raw, { timestamp, signature }, otherKey)).toBe(false);
        expect(verify(raw, { timestamp: String(nowSeconds + shift), signature }, key)).toBe(false);
        const hex = signature.slice('sha256='.length);
        const flipped = `${hex.slice(0, at)}${hex[at] === '0' ? '1' : '0'}${hex.slice(at + 1)}`;
        expect(verify(raw, { timestamp, signature: `sha256=${flipped}` }, key)).toBe(false);
      }),
      { numRuns: 300, seed: 62 },
    );
  });

  it('any header values never throw, and only the right signature within the tolerance is accepted', () => {
    const anyTolerance = fc.oneof(tolerance, fc.double(), fc.constantFrom(Number.NaN, -1, Number.POSITIVE_INFINITY));
    const anyNow = fc.oneof(fc.constant(NOW), fc.constant(Number.NaN), fc.integer({ min: NOW - 2_000_000, max: NOW + 2_000_000 }));
    fc.assert(
      fc.property(body, secret, headerValue, headerValue, anyTolerance, anyNow, fc.boolean(), (raw, key, ts, sig, tol, now, signIt) => {
        const signature = signIt && typeof ts === 'string' ? signWebhook(raw, key, ts) : sig;
        const accepted = verifyWebhookSignature(raw, { timestamp: ts, signature }, key, tol, now);
        if (!accepted) return;
        expect(typeof ts).toBe('string');
        expect(signature).toBe(signWebhook(raw, key, ts as string));
        // Accepted means within the tolerance: a tolerance or clock that is not a number accepts nothing.
        expect(Math.abs(now / 1000 - Number(ts))).toBeLessThanOrEqual(tol);
      }),
      { numRuns: 300, seed: 63 },
    );
    expect(verifyWebhookSignature('{}', { timestamp: '1', signature: signWebhook('{}', 'k', '1') }, 'k', Number.NaN, NOW)).toBe(false);
  });

  it('a hook delivery id always names a valid thread id, the same one for every retry', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 1, maxLength: 200 }), fc.stringMatching(/^[A-Za-z0-9_:-]{1,120}$/)), fc.string({ maxLength: 200 }), (id, other) => {
        const threadId = hookThreadId(id);
        expect(threadId).toMatch(THREAD_ID_PATTERN);
        expect(hookThreadId(id)).toBe(threadId);
        if (other !== id) expect(hookThreadId(other)).not.toBe(threadId);
      }),
      { numRuns: 300, seed: 64 },
    );
  });
});
