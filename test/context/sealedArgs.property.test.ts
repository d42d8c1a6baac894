/**
 * `sealArgs` / `openArgs`: a decision's arguments with what `redactJson` would redact sealed for
 * the thread and the call, and opened for the tool to run with them as the model sent them.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, redactJson } from '../../src/context/redact.js';
import { redactingLogger } from '../../src/context/redactingLogger.js';
import { holdsSealed, maskSealed, openArgs, redactedPaths, sealArgs } from '../../src/context/sealedArgs.js';
import type { Json } from '../../src/thread/events.js';
import { capturingLogger } from '../support/capturingLogger.js';

const SECRET = 'seal-secret-for-tests';
const AT = { threadId: 'th-1', callId: 'call_2' };
const DECLARED = ['PW-hunter2-XYZ'];

/** Strings that are often secrets, or hold some: a key, a bearer header, a declared secret, text that looks sealed. */
const secretish = fc.oneof(
  fc.string(),
  fc.constantFrom('sk-NOTEPLANTED1234567890abcd', 'Bearer authzTOKEN123456', 'PW-hunter2-XYZ', 'sealed.v1.AAAA', '[REDACTED]', 'ghp_abcdefghijklmnopqrstuvwxyz'),
  fc.tuple(fc.string({ maxLength: 6 }), fc.constantFrom('sk-NOTEPLANTED1234567890abcd', 'Bearer authzTOKEN123456', 'PW-hunter2-XYZ'), fc.string({ maxLength: 6 })).map((parts) => parts.join('')),
  fc.array(fc.constantFrom('x ', 'sk-NOTEPLANTED1234567890abcd', ' Bearer abcdefgh12', 'PW-hunter2-XYZ', 'y', '-', '[REDACTED]'), { maxLength: 6 }).map((parts) => parts.join('')),
);
const keyArb = fc.oneof(fc.constantFrom('password', 'token', 'apiKey', 'note', 'user', '__proto__', 'authorization'), fc.string({ maxLength: 8 }));
const { json: jsonArb } = fc.letrec<{ json: Json }>((tie) => ({
  json: fc.oneof(
    { depthSize: 'small' },
    secretish,
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('json'), { maxLength: 4 }),
    fc.dictionary(keyArb, tie('json'), { maxKeys: 4 }),
  ),
}));
const argsArb = fc.dictionary(keyArb, jsonArb, { maxKeys: 5 });

/** Sealed arguments as the model is shown them: every token as [REDACTED]. */
function shownOf(value: Json): Json {
  if (typeof value === 'string') return maskSealed(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(shownOf);
  return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, shownOf(item)]));
}

/** `shown` is `redacted`, but for values hidden whole (a string that could not be split as redactText split it). */
function expectShownAs(shown: Json, redacted: Json): void {
  if (shown === REDACTED || typeof redacted !== 'object' || redacted === null) {
    if (shown !== REDACTED) expect(shown).toEqual(redacted);
    return;
  }
  expect(typeof shown === 'object' && shown !== null && Array.isArray(shown) === Array.isArray(redacted)).toBe(true);
  const other = shown as Record<string, Json>;
  expect(Object.keys(other)).toEqual(Object.keys(redacted));
  for (const [key, item] of Object.entries(redacted)) expectShownAs(other[key]!, item);
}

describe('sealed tool arguments', () => {
  it('round-trip: any JSON arguments sealed open to themselves, with the secret or a rotation listing it after a new one', () => {
    fc.assert(
      fc.property(argsArb, (args) => {
        const sealed = sealArgs(args, SECRET, DECLARED, AT);
        expect(openArgs(sealed, [SECRET], AT)).toEqual({ success: true, data: args, revealed: expect.any(Array) });
        expect(openArgs(sealed, ['another-secret', SECRET], AT)).toEqual({ success: true, data: args, revealed: expect.any(Array) });
      }),
    );
  });

  it('hides at least what redactJson hides: each value shown (tokens as [REDACTED]) as redactJson writes it, or [REDACTED] whole', () => {
    fc.assert(
      fc.property(argsArb, (args) => {
        expectShownAs(shownOf(sealArgs(args, SECRET, DECLARED, AT)), redactJson(args, DECLARED));
      }),
    );
  });

  it('a token opens only with its secret and only for its thread and call', () => {
    const sealed = sealArgs({ user: 'bob', password: 'Correct-Horse-Battery-9' }, SECRET, [], AT);
    expect(holdsSealed(sealed)).toBe(true);
    expect(openArgs(sealed, ['another-secret'], AT)).toMatchObject({ success: false, error: expect.stringContaining('SWITCHYARD_SEAL_SECRET_PREVIOUS') });
    expect(openArgs(sealed, [SECRET], { ...AT, callId: 'call_9' })).toMatchObject({ success: false });
    expect(openArgs(sealed, [SECRET], { ...AT, threadId: 'th-2' })).toMatchObject({ success: false });
    expect(openArgs(sealed, [], AT)).toMatchObject({ success: false, error: expect.stringContaining('set SWITCHYARD_SEAL_SECRET') });
  });

  it('keeps what is not secret as it is, a value under a secret-named key sealed whole, whatever it is', () => {
    const sealed = sealArgs({ user: 'bob', token: { id: 7 }, note: 'key sk-NOTEPLANTED1234567890abcd, thanks' }, SECRET, [], AT) as Record<string, Json>;
    expect(sealed.user).toBe('bob');
    expect(sealed.token).toMatch(/^sealed\.v1\.[A-Za-z0-9_-]+$/);
    expect(sealed.note).toMatch(/^key sealed\.v1\.[A-Za-z0-9_-]+, thanks$/);
    expect(maskSealed(JSON.stringify(sealed))).toBe('{"user":"bob","token":"[REDACTED]","note":"key [REDACTED], thanks"}');
  });

  it('names the paths redactJson redacted', () => {
    const args: Json = { user: 'bob', password: 'pw', items: [{ token: 't' }, { id: 1 }], note: 'Bearer abcdefgh12' };
    expect(redactedPaths(args, redactJson(args))).toEqual(['password', 'items[0].token', 'note']);
    expect(redactedPaths(args, args)).toEqual([]);
  });

  it('arguments without a token open to themselves (the same value: the hot path copies nothing)', () => {
    const args = { user: 'bob', note: 'plain' };
    const opened = openArgs(args, [], AT);
    expect(opened.success && opened.data).toBe(args);
  });

  it('a redacting logger writes a line holding tokens whole (ciphertext: nothing of them is rewritten)', () => {
    const { logger, out } = capturingLogger();
    const args = sealArgs({ user: 'bob', note: `key sk-NOTEPLANTED1234567890abcd and ${DECLARED[0]}` }, SECRET, DECLARED, AT) as Record<string, Json>;
    redactingLogger(logger, DECLARED).info({ args }, 'tool call');
    expect(out.lines[0]?.args).toEqual(args);
    expect(out.text).not.toMatch(/NOTEPLANTED|hunter2/);
  });
});
