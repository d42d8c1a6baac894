/**
 * `SWITCHYARD_WEBHOOK_SECRET_PREVIOUS` and `SWITCHYARD_HOOK_SECRET_PREVIOUS`: the secrets a
 * current one replaced, comma-separated. Unset or blank is none; each item is trimmed; an empty
 * item or an item that is the current secret is refused, the message naming the item by its place
 * and never by its value. (A list without a current secret is refused by the CLI, naming the
 * setting that is missing: test/cli/settings.test.ts.)
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseSecretList } from '../../src/context/secretList.js';

/** A secret as operators write them (no comma, nothing blank around it); `whsec_` never appears in a message. */
const secret = fc.stringMatching(/^[A-Za-z0-9_\-+/=.:]{1,40}$/).map((s) => `whsec_${s}`);
/** Blanks an operator may leave around a comma. */
const blank = fc.constantFrom('', ' ', '  ', '\t', ' \n');

/** `items` joined by commas, each with `pads` around it. */
function written(items: readonly string[], pads: readonly string[]): string {
  return items.map((item, n) => `${pads[(2 * n) % pads.length] ?? ''}${item}${pads[(2 * n + 1) % pads.length] ?? ''}`).join(',');
}

describe('parseSecretList', () => {
  it('is every secret listed, trimmed, in order, once each', () => {
    fc.assert(
      fc.property(secret, fc.array(secret, { minLength: 1, maxLength: 6 }), fc.array(blank, { minLength: 1, maxLength: 6 }), (current, items, pads) => {
        fc.pre(!items.includes(current));
        expect(parseSecretList(written(items, pads), current)).toEqual({ success: true, data: [...new Set(items)] });
      }),
    );
  });

  it('is none when unset or blank, with or without a current secret', () => {
    fc.assert(
      fc.property(fc.option(secret, { nil: '' }), fc.array(blank, { maxLength: 3 }), (current, pads) => {
        expect(parseSecretList(pads.join(''), current)).toEqual({ success: true, data: [] });
        expect(parseSecretList(undefined, current)).toEqual({ success: true, data: [] });
      }),
    );
  });

  it('refuses an empty item (a comma too many, or two in a row), naming its place and no secret', () => {
    fc.assert(
      fc.property(secret, fc.array(secret, { minLength: 1, maxLength: 5 }), fc.nat(), blank, (current, items, at, pad) => {
        fc.pre(!items.includes(current));
        const place = at % (items.length + 1);
        const listed = [...items.slice(0, place), pad, ...items.slice(place)];
        const parsed = parseSecretList(listed.join(','), current);
        expect(parsed.success).toBe(false);
        if (parsed.success) return;
        expect(parsed.error).toContain(`item ${place + 1} of ${listed.length} is empty`);
        expect(parsed.error).not.toContain('whsec_');
      }),
    );
  });

  it('refuses the current secret among the previous ones, naming its place and no secret', () => {
    fc.assert(
      fc.property(secret, fc.array(secret, { maxLength: 5 }), fc.nat(), blank, (current, items, at, pad) => {
        fc.pre(!items.includes(current));
        const place = at % (items.length + 1);
        const listed = [...items.slice(0, place), `${pad}${current}${pad}`, ...items.slice(place)];
        const parsed = parseSecretList(listed.join(','), current);
        expect(parsed.success).toBe(false);
        if (parsed.success) return;
        expect(parsed.error).toContain(`item ${place + 1} of ${listed.length} is the current secret`);
        expect(parsed.error).not.toContain('whsec_');
      }),
    );
  });

});
