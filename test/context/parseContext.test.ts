import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseContext } from '../../src/context/parseContext.js';
import { renderContext, renderEvent } from '../../src/context/renderContext.js';
import { eventArbitrary, stamp } from '../thread/eventArbitrary.js';
import * as entry from '../../src/index.js';

describe('parseContext', () => {
  it('reads back every block the renderer writes: its tag, attributes and body, in order', () => {
    fc.assert(
      fc.property(fc.array(eventArbitrary, { minLength: 1, maxLength: 20 }), (events) => {
        const stamped = stamp(events, '2025-01-01T00:00:00.000Z');
        const rendered = stamped.map((e) => renderEvent(e, [], { events: stamped })).filter((b): b is string => b !== null);
        const parsed = parseContext(rendered.join('\n'));
        expect(parsed).toHaveLength(rendered.length);
        parsed.forEach((block, i) => {
          const text = rendered[i]!;
          expect(text.startsWith(`<${block.tag}`)).toBe(true);
          expect(text.endsWith(`</${block.tag}>`)).toBe(true);
          for (const [name, value] of Object.entries(block.attrs)) expect(text).toContain(`${name}="${value}"`);
          expect(text).toContain(block.body);
        });
      }),
      { numRuns: 200, seed: 4 },
    );
  });

  it('skips the omitted marker and text outside blocks', () => {
    const thread = {
      id: 't',
      agent: 'a',
      events: stamp(
        [
          { type: 'input', data: { input: 'x'.repeat(400) } },
          { type: 'final', data: { output: 'y'.repeat(400) } },
          { type: 'failed', data: { reason: 'z' } },
        ],
        '2025-01-01T00:00:00.000Z',
      ),
    };
    // A budget small enough that, with the input and the final clipped, the final is left out.
    const { text, omitted } = renderContext({ contextBudget: 30, secrets: [] }, thread);
    expect(omitted).toBe(1);
    expect(parseContext(`noise ${text} noise`).map((b) => b.tag)).toEqual(['input', 'failed']);
    expect(parseContext('<input>\n hi \n</input>')).toEqual([{ tag: 'input', attrs: {}, body: 'hi' }]);
  });
});

describe('the package entry', () => {
  it('exports parseContext beside renderContext, as the README documents', () => {
    expect(entry.parseContext).toBe(parseContext);
    expect(entry.parseContext('<input>\nhi\n</input>')).toEqual([{ tag: 'input', attrs: {}, body: 'hi' }]);
  });
});
