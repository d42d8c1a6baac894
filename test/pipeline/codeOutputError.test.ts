import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { typeErrors as compileErrors } from '../support/typeErrors.js';

// What tsc tells a user whose code step's `run` returns what its `output` schema refuses: the
// error of the last overload, which tsc shows alone when it shortens the message ("The last
// overload gave the following error"), must name the types, not that `output` is an unknown
// property (what the overload without `output` says).

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
  it("is a type error whose last overload's error (what tsc shows alone when it shortens the message) names the types", () => {
    const errors = typeErrors(snippet("'one'"));
    expect(errors).toHaveLength(1);
    const lines = errors[0]!.trim().split('\n');
    expect(lines.at(-1)).toMatch(/Type 'string' is not assignable to type 'number'/);
    expect(lines.at(-1)).not.toMatch(/'output' does not exist/);
  }, 60_000);

  it('is no error when run returns what the schema takes, and the results keep their types', () => {
    expect(typeErrors(snippet('1'))).toEqual([]);
  }, 60_000);
});
