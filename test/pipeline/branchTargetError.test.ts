import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { typeErrors as compileErrors } from '../support/typeErrors.js';

// What tsc tells a user whose branch names a step the pipeline lacks: the error must name the
// target, not only that an argument is missing.

const here = dirname(fileURLToPath(import.meta.url));
const snippetPath = join(here, 'branch-target-snippet.ts');

/** tsc's errors for `source`, compiled as a module beside this test. */
const typeErrors = (source: string): string[] => compileErrors(snippetPath, source);

const snippet = (choice: string) => `
import { z } from 'zod';
import { FINISH, pipeline } from '../../src/pipeline/pipeline.js';
void FINISH;
export const p = pipeline({ name: 'p', description: 'd', input: z.object({ again: z.boolean() }), output: z.object({ n: z.number() }) })
  .code({ name: 'count', output: z.number(), run: () => 1 })
  .branch({ name: 'loop', choose: ({ input }) => (input.again ? 'count' : ${choice}) })
  .finish(({ results }) => ({ n: results.count }));
`;

describe('a branch naming a step the pipeline lacks', () => {
  it("is a type error at finish that names the target (here 'FINISH' written as a string instead of the FINISH constant)", () => {
    const errors = typeErrors(snippet("'FINISH'"));
    expect(errors.join('\n')).toMatch(/branch target 'FINISH' is not a step of this pipeline/);
  }, 60_000);

  it('is no error when every target is a step or FINISH, and finish still types the results', () => {
    expect(typeErrors(snippet('FINISH'))).toEqual([]);
  }, 60_000);
});
