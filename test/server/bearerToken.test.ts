/**
 * A bearer token the server could never accept (a character outside RFC 6750's token68: `$`, `!`, a
 * space…) is refused when the server is built, naming the setting and the characters allowed,
 * never the token: before, every request was refused 400 "the Authorization header must be
 * \"Bearer <token>\"" (QA25 D9).
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { createHttpApp, type HttpApp } from '../../src/server/httpServer.js';
import { createHarness } from './harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** The app with `token`, or the error building it threw. */
function built(token: string): HttpApp | unknown {
  const h = createHarness();
  cleanups.push(() => h.runtime.close());
  try {
    const app = createHttpApp(h.runtime, { token });
    cleanups.push(() => app.close());
    return app;
  } catch (error) {
    return error;
  }
}

describe('createHttpApp: the bearer token', () => {
  it('refuses one no client can send, naming the setting and the characters allowed, never the token', () => {
    const error = built('TOKEN-SECRET-VALUE$!');
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).toBe(
      'the bearer token (token, default SWITCHYARD_TOKEN) has a character a bearer token cannot carry (U+0024 at index 18): use letters, digits and - . _ ~ + / (and = only at the end), as RFC 6750 allows',
    );
    expect((error as ConfigError).message).not.toContain('SECRET-VALUE');
  });

  it('takes exactly the tokens a client can send: every token it takes is accepted by the check on requests', async () => {
    const token68 = fc.stringMatching(/^[A-Za-z0-9._~+/-]{1,24}=*$/);
    const anyPrintable = fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((code) => String.fromCharCode(code)), minLength: 1, maxLength: 24 });
    await fc.assert(
      fc.asyncProperty(fc.oneof(token68, anyPrintable), async (token) => {
        const app = built(token);
        const valid = /^[A-Za-z0-9._~+/-]+=*$/.test(token);
        expect(app instanceof ConfigError, token).toBe(!valid);
        if (!valid) return;
        const response = await (app as HttpApp).request('/threads', { headers: { authorization: `Bearer ${token}` } });
        expect(response.status, token).toBe(200);
      }),
      { numRuns: 100 },
    );
  });
});
