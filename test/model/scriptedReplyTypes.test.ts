import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { typeErrors as compileErrors } from '../support/typeErrors.js';
import type { ModelRequest } from '../../src/model/model.js';
import { scriptedModel } from '../../src/model/scriptedModel.js';

// A user's first stand-in: an inline function answering one of two replies. TypeScript widens the
// two object literals of the conditional into one union with `a?: undefined` / `message?: undefined`
// members; the scripted model must take that as written (undefined members dropped when sent).

const here = dirname(fileURLToPath(import.meta.url));
const snippetPath = join(here, 'scripted-reply-snippet.ts');

/** tsc's errors for `source`, compiled as a module beside this test. */
const typeErrors = (source: string): string[] => compileErrors(snippetPath, source);

const request = (context: string): ModelRequest => ({ threadId: 'th_1', agent: 'calculator', system: 's', context, tools: [], signal: new AbortController().signal });

describe('scripted replies as users write them', () => {
  it('an inline stand-in answering one of two literals type-checks, as a script step and as whenExhausted', () => {
    const errors = typeErrors(`
import { scriptedModel } from '../../src/testing/index.js';
export const asFallback = scriptedModel([], {
  whenExhausted: (req) => req.context.includes('<tool_result tool="add"')
    ? { intent: 'done_for_now', args: { message: 'sum done' } }
    : { intent: 'add', args: { a: 1, b: 2 } },
});
export const asStep = scriptedModel([(req) => (req.context.length > 0 ? { intent: 'add', args: { a: 1 } } : { intent: 'done_for_now', args: { message: 'x' } })]);
`);
    expect(errors).toEqual([]);
  });

  it('still refuses args that are not an object (a member that is not JSON, a function, is refused at run time: scriptedModel.test.ts)', () => {
    const errors = typeErrors(`
import { scriptedModel } from '../../src/testing/index.js';
export const bad = scriptedModel([{ intent: 'add', args: '1 + 2' }]);
`);
    expect(errors.join('\n')).toContain("Type 'string' is not assignable to type 'object'");
  });

  it('drops undefined members from the arguments it sends, as JSON.stringify does', async () => {
    const args: Record<string, number | string | undefined> = { a: 1, b: undefined, message: undefined };
    const model = scriptedModel([{ intent: 'add', args }]);
    const result = await model.complete(request('c'));
    expect(result).toMatchObject({ success: true, data: { toolCall: { name: 'add', arguments: '{"a":1}' } } });
  });
});
