import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { typeErrors as compileErrors } from '../support/typeErrors.js';

// What tsc tells a user whose code step's `run` returns what its `output` schema refuses: the
// error must name the field and the types, not that `output` is an unknown property (which is
// what the overload without `output` says, when tsc reports that one).

const here = dirname(fileURLToPath(import.meta.url));
const snippetPath = join(here, 'code-output-snippet.ts');

const typeErrors = (source: string): string[] => compileErrors(snippetPath, source);

const snippet = (value: string) => `
import { z } from 'zod';
import { pipeline } from '../../src/pipeline/pipeline.js';
export const p = pipeline({ name: 't2', description: 'd', input: z.string(), output: z.unknown() })
  .code({ name: 'c', output: z.object({ n: z.number() }), run: () => ({ n: ${value} }) })
  .code({ name: 'plain', run: ({ results }) => results.c.n + 1 })
  .finish(({ results }) => results.plain);
`;

describe("a code step whose run returns what its output schema refuses", () => {
  it('is a type error naming the types, not an unknown output property', () => {
    const text = typeErrors(snippet("'one'")).join('\n');
    expect(text).not.toMatch(/'output' does not exist/);
    expect(text).toMatch(/Type 'string' is not assignable to type 'number'/);
  }, 60_000);

  it('is no error when run returns what the schema takes, and the results keep their types', () => {
    expect(typeErrors(snippet('1'))).toEqual([]);
  }, 60_000);
});
